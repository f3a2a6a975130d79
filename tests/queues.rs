//! The console's queues by topic, by team and overdue, with counts that the `ticket_counts` triggers
//! keep equal to the tickets through every change; and keyset paging: walking "next" then
//! "previous" through every sort order visits each ticket once, in order. Both backends.

mod common;

use common::http::{Client, agent_console};
use common::{Backend, Harness, Mail, created};
use mailgate::core::ticket::Status;
use mailgate::workflow::ConsoleAction;

on_both_backends!(topic_team_and_overdue_queues_and_their_counts, keyset_pages_walk_every_sort_both_ways);

const TOPICS: &str = r#"
[[sla]]
key = "standard"
name = "Standard"
grace_hours = 1
default = true

[[topics]]
key = "billing"
name = "Billing questions"
"#;

/// The ticket numbers in a queue page, in order.
fn numbers(body: &str) -> Vec<String> {
    body.split("<td class=\"number\"><a href=\"/agent/t/")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

/// The target of the page's `rel` link ("next", "prev"), unescaped.
fn link(body: &str, rel: &str) -> Option<String> {
    let end = body.find(&format!("\" rel=\"{rel}\""))?;
    let start = body[..end].rfind("href=\"")? + "href=\"".len();
    Some(body[start..end].replace("&amp;", "&").replace("&#x2F;", "/"))
}

/// Every group of `ticket_counts` equals a count of the tickets themselves.
async fn assert_counts_match_tickets(h: &Harness) {
    let query = |sql: &'static str| async move {
        h.read(move |tx| {
            tx.query_all(sql, &[], |r| {
                Ok(format!(
                    "{} {} {} {} {} {}",
                    r.string(0)?,
                    r.i64(1)?,
                    r.i64(2)?,
                    r.string(3)?,
                    r.i64(4)?,
                    r.i64(5)?
                ))
            })
        })
        .await
    };
    let kept = query(
        "SELECT status, agent_id, team_id, topic, overdue, CAST(SUM(tickets) AS BIGINT) FROM ticket_counts
          GROUP BY status, agent_id, team_id, topic, overdue HAVING SUM(tickets) <> 0 ORDER BY 1, 2, 3, 4, 5",
    )
    .await;
    let counted = query(
        "SELECT status, COALESCE(assignee_agent_id, 0), COALESCE(assignee_team_id, 0), COALESCE(topic, ''),
                CASE WHEN overdue_at IS NULL THEN 0 ELSE 1 END, COUNT(*)
           FROM tickets GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
    )
    .await;
    assert_eq!(kept, counted, "the kept counts are the tickets' counts");
}

async fn topic_team_and_overdue_queues_and_their_counts(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, TOPICS).await else { return };
    // acme.com is managed by alice (assigned); the others are unassigned.
    let (_, acme) = created(&h.pipe(&Mail::new("ann@acme.com", "Acme printer", "x").build()).await);
    h.clock.advance_ms(60_000);
    let (_, invoice) = created(&h.pipe(&Mail::new("gus@example.org", "Invoice", "x").build()).await);
    let change = |number: &str, action: ConsoleAction| {
        let number = number.parse().unwrap();
        let workflows = h.workflows.clone();
        async move { workflows.console_change(&number, action).await.unwrap() }
    };
    change(&invoice, ConsoleAction::Topic("billing".into())).await;
    h.clock.advance_ms(2 * 3_600_000);
    assert_eq!(h.workflows.mark_overdue().await.unwrap(), 2, "both are past their hour");
    let (_, team) = created(&h.pipe(&Mail::new("tom@example.org", "Refund", "x").build()).await);
    change(&team, ConsoleAction::Assign("billing".into())).await;
    h.clock.advance_ms(60_000);
    let (_, old) = created(&h.pipe(&Mail::new("old@example.org", "Old", "x").build()).await);
    change(&old, ConsoleAction::Status(Status::Closed)).await;
    assert_counts_match_tickets(&h).await;
    // Two hours idle ended alice's session.
    let signed =
        client.submit("/agent/login", "/agent/login", "login=alice&password=blue+velvet+staircase").await;
    assert_eq!(signed.location(), "/agent");

    let overdue = client.get("/agent?queue=overdue&sort=created").await;
    assert_eq!(overdue.status, 200, "{}", overdue.body);
    assert_eq!(numbers(&overdue.body), [invoice.clone(), acme.clone()]);
    assert!(overdue.body.contains("Overdue <span class=\"count\">2<"), "{}", overdue.body);
    let topic = client.get("/agent?queue=topic:billing").await;
    assert_eq!(numbers(&topic.body), std::slice::from_ref(&invoice));
    assert!(topic.body.contains("aria-label=\"Topics\""), "a tab per topic");
    assert!(topic.body.contains("Billing questions <span class=\"count\">1<"), "{}", topic.body);
    let by_team = client.get("/agent?queue=team:billing").await;
    assert_eq!(numbers(&by_team.body), std::slice::from_ref(&team), "every team's queue, member or not");
    assert!(by_team.body.contains("aria-label=\"Teams\""), "a tab per team");
    assert!(by_team.body.contains(">Billing <span class=\"count\">1<"), "{}", by_team.body);
    assert!(numbers(&client.get("/agent?queue=teams").await.body).is_empty(), "alice is in no team");
    let unknown = client.get("/agent?queue=topic:nope").await;
    assert_eq!(unknown.status, 200);
    assert!(numbers(&unknown.body).is_empty() && unknown.body.contains("No tickets in this queue."));
    let odd = client.get("/agent?queue=topic:%27%20OR%201%3D1").await;
    assert_eq!(numbers(&odd.body).len(), 3, "a key that is not a key is the open queue");

    // Every move changes the counts in the same transaction.
    change(&invoice, ConsoleAction::Status(Status::Closed)).await;
    change(&acme, ConsoleAction::Assign("billing".into())).await;
    change(&team, ConsoleAction::Topic("billing".into())).await;
    assert_counts_match_tickets(&h).await;
    let page = client.get("/agent?queue=overdue").await;
    assert_eq!(numbers(&page.body), std::slice::from_ref(&acme));
    assert!(page.body.contains("Overdue <span class=\"count\">1<"), "{}", page.body);
    assert!(page.body.contains("Closed <span class=\"count\">2<"), "{}", page.body);
    assert!(page.body.contains(">Billing <span class=\"count\">2<"), "{}", page.body);
    assert!(page.body.contains("Billing questions <span class=\"count\">1<"), "{}", page.body);
    assert!(page.body.contains("All tickets <span class=\"count\">4<"), "{}", page.body);
}

/// A synthetic ticket: its activity time (with ties), priority, due time, status and where it is.
struct Row {
    number: String,
    updated: i64,
    urgency: i64,
    created: i64,
    due: Option<i64>,
    status: &'static str,
    overdue: bool,
    /// Assigned to alice; else to the billing team when `team`, else to no one.
    mine: bool,
    team: bool,
}

impl Row {
    fn waiting(&self) -> bool {
        matches!(self.status, "open" | "pending")
    }
}

async fn keyset_pages_walk_every_sort_both_ways(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, "").await else { return };
    // Every lane of migration 0021 (closed, resolved, waiting assigned / unassigned, each overdue
    // or not) holds tickets, and every queue reads several of them merged.
    let rows: Vec<Row> = (0..160_i64)
        .map(|n| Row {
            number: format!("Q{n:04}"),
            updated: 1_000_000 + (n * 37 % 50) * 1000,
            urgency: n * 7 % 4,
            created: 500_000 + (n * 11 % 90) * 1000,
            due: (n % 3 != 0).then_some(2_000_000 + (n * 13 % 40) * 1000),
            status: match n % 10 {
                0 => "closed",
                5 => "resolved",
                3 | 8 => "pending",
                _ => "open",
            },
            overdue: n % 3 == 1,
            mine: n % 2 == 0,
            team: n % 4 == 1,
        })
        .collect();
    let inserts: Vec<_> = rows
        .iter()
        .map(|r| {
            let priority = ["low", "normal", "high", "urgent"][r.urgency as usize];
            (
                r.number.clone(),
                r.updated,
                priority,
                r.created,
                r.due,
                r.status,
                r.overdue.then_some(r.due.unwrap_or(1)),
                r.mine,
                r.team,
            )
        })
        .collect();
    h.write(move |tx| {
        let user = tx.query_one(
            "INSERT INTO users (email, name, created_at, updated_at) VALUES ('q@example.org', 'Q', 0, 0) RETURNING id",
            &[],
            |r| r.i64(0),
        )?;
        let alice = tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))?;
        let billing = tx.query_one("SELECT id FROM teams WHERE key = 'billing'", &[], |r| r.i64(0))?;
        for (number, updated, priority, created, due, status, overdue, mine, team) in &inserts {
            tx.execute(
                "INSERT INTO tickets (number, subject, status, user_id, assignee_agent_id, assignee_team_id,
                                      priority, created_at, updated_at, due_at, overdue_at)
                 VALUES ($1, 'Paged', $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                mailgate::params![
                    number.as_str(),
                    *status,
                    user,
                    mine.then_some(alice),
                    (!mine && *team).then_some(billing),
                    *priority,
                    *created,
                    *updated,
                    *due,
                    *overdue
                ],
            )?;
        }
        Ok(())
    })
    .await;
    assert_counts_match_tickets(&h).await;

    for (queue, wanted) in [
        ("open", (|r: &Row| r.waiting()) as fn(&Row) -> bool),
        ("mine", |r: &Row| r.waiting() && r.mine),
        ("team:billing", |r: &Row| r.waiting() && !r.mine && r.team),
        ("unassigned", |r: &Row| r.waiting() && !r.mine && !r.team),
        ("overdue", |r: &Row| r.waiting() && r.overdue),
        ("closed", |r: &Row| !r.waiting()),
        ("all", |_: &Row| true),
    ] {
        for sort in ["updated", "priority", "created", "due"] {
            // Ties are broken by id, which follows the insertion order (the index in `rows`).
            let mut expected: Vec<(usize, &Row)> =
                rows.iter().enumerate().filter(|(_, r)| wanted(r)).collect();
            expected.sort_by_key(|&(i, r)| match sort {
                "updated" => (0, -r.updated, -(i as i64)),
                "priority" => (-r.urgency, -r.updated, -(i as i64)),
                "created" => (0, -r.created, -(i as i64)),
                _ => (0, r.due.unwrap_or(i64::MAX), i as i64),
            });
            let expected: Vec<String> = expected.into_iter().map(|(_, r)| r.number.clone()).collect();
            let pages = walk(&mut client, &format!("/agent?queue={queue}&sort={sort}"), "next").await;
            assert_eq!(pages.len(), expected.len().div_ceil(50), "{queue} by {sort}: pages of 50");
            assert_eq!(pages.concat(), expected, "{queue} by {sort}: every ticket once, in order");

            // From the last page back to the first.
            let mut path = format!("/agent?queue={queue}&sort={sort}");
            for _ in 1..pages.len() {
                path = link(&client.get(&path).await.body, "next").unwrap();
            }
            let mut back = walk(&mut client, &path, "prev").await;
            back.reverse();
            assert_eq!(back, pages, "{queue} by {sort}: the same pages backwards");
        }
    }
}

/// The pages from `path` on, following `rel` links to the end.
async fn walk(client: &mut Client, path: &str, rel: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(path.to_string());
    while let Some(path) = next {
        let page = client.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        pages.push(numbers(&page.body));
        next = link(&page.body, rel);
        assert!(pages.len() < 10, "{path}: the pages end");
    }
    pages
}
