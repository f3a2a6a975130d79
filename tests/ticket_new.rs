//! An agent opens a ticket for a customer (issue 18), on both backends: the customer found or
//! created, the agent's message as the first response, mailed through a real SMTP server with a
//! signed reply address, the customer's answer threading back; a topic routes it; bad input is
//! refused with the reason; the console's `/agent/new` form.

mod common;

use common::http::{agent_console, encode};
use common::ports::free_port;
use common::smtp::{SmtpSink, available, header, mail_to, worker};
use common::{Backend, Harness, Mail, added};
use mailgate::ingest::Outcome;
use mailgate::workflow::{ConsoleError, NewForCustomer};

on_both_backends!(
    an_agent_opens_a_ticket_the_customer_gets_it_and_their_reply_threads,
    a_topic_routes_the_new_ticket,
    what_cannot_be_sent_is_refused,
    the_console_opens_a_ticket_for_a_customer,
);

fn new(to: &str, subject: &str, text: &str) -> NewForCustomer {
    NewForCustomer {
        to: to.into(),
        name: None,
        subject: subject.into(),
        text: text.into(),
        agent: "alice".into(),
        topic: None,
    }
}

/// (number, owner's address and name, assignee agent key, assignee team key, priority, status)
/// of the only ticket.
async fn the_ticket(h: &Harness) -> (String, String, String, Option<String>, Option<String>, String, String) {
    h.read(|tx| {
        tx.query_one(
            "SELECT t.number, u.email, u.name, a.key, tm.key, t.priority, t.status
               FROM tickets t JOIN users u ON u.id = t.user_id LEFT JOIN agents a ON a.id = t.assignee_agent_id
               LEFT JOIN teams tm ON tm.id = t.assignee_team_id",
            &[],
            |r| {
                Ok((
                    r.string(0)?,
                    r.string(1)?,
                    r.string(2)?,
                    r.opt_string(3)?,
                    r.opt_string(4)?,
                    r.string(5)?,
                    r.string(6)?,
                ))
            },
        )
    })
    .await
}

async fn an_agent_opens_a_ticket_the_customer_gets_it_and_their_reply_threads(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    if !common::require(available(), "aiosmtpd", "install python3-aiosmtpd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let worker = worker(&h, sink.port);

    let ask = NewForCustomer {
        name: Some("Nina New".into()),
        ..new("Nina@Example.org", "Your order 1234", "Hello Nina,\nyour order ships on Monday.\nAlice")
    };
    let report = h.workflows.open_for_customer(ask).await.unwrap();
    let Outcome::Created { ticket, number, .. } = report.outcome else {
        panic!("{:?}\n{}", report.outcome, report.trace)
    };
    let (shown, owner, name, agent, team, _, status) = the_ticket(&h).await;
    assert_eq!(shown, number.to_string());
    assert_eq!(
        (owner.as_str(), name.as_str()),
        ("nina@example.org", "Nina New"),
        "created as mail-in creates"
    );
    assert_eq!(
        (agent.as_deref(), team, status.as_str()),
        (Some("alice"), None, "open"),
        "the writer keeps it"
    );
    let entries = h.strings("SELECT kind FROM entries ORDER BY id", "").await;
    assert_eq!(entries, ["response", "system"], "the agent's message first, then who opened it");
    let author = h.strings("SELECT a.key FROM entries e JOIN agents a ON a.id = e.author_agent_id", "").await;
    assert_eq!(author, ["alice"]);
    let opened = h.strings("SELECT body_text FROM entries WHERE kind = $1", "system").await;
    assert_eq!(opened, ["Opened for nina@example.org by agent alice"]);
    let outbox = h.strings("SELECT template || ' ' || recipient FROM outbox ORDER BY id", "").await;
    assert_eq!(outbox, ["response_relay nina@example.org"], "no auto-response, no alert to the writer");

    worker.drain_once().await.unwrap();
    let delivered = sink.messages();
    let mail = mail_to(&delivered, "nina@example.org");
    assert!(header(mail, "Subject").unwrap().contains(&format!("[#{number}]")), "{mail}");
    assert!(mail.contains("your order ships on Monday"), "{mail}");
    assert_eq!(header(mail, "In-Reply-To"), None, "the first mail of the thread answers nothing");
    let reply_to = header(mail, "Reply-To").unwrap();
    assert!(reply_to.contains("support+"), "a signed reply address: {reply_to}");

    // Nina answers from her mail client: to the reply address, In-Reply-To our mail.
    let mut answer = Mail::new("Nina <nina@example.org>", "Re: Your order 1234", "Thanks! Monday is fine.")
        .in_reply_to(&header(mail, "Message-ID").unwrap());
    answer.to = reply_to;
    let report = h.pipe(&answer.build()).await;
    assert_eq!(added(&report).0, ticket, "{}", report.trace);
    let kinds = h.strings("SELECT kind FROM entries ORDER BY id", "").await;
    assert_eq!(kinds, ["response", "system", "message"]);
}

async fn a_topic_routes_the_new_ticket(backend: Backend) {
    let topics = "[[topics]]\nkey = \"billing\"\nname = \"Billing questions\"\nassign = \"team:billing\"\npriority = \"high\"\npublic = false\n";
    let Some(h) = Harness::with_config(backend, topics).await else { return };
    let ask = NewForCustomer {
        topic: Some("Billing".into()),
        ..new("gus@globex.com", "Invoice 77", "It is attached.")
    };
    let report = h.workflows.open_for_customer(ask).await.unwrap();
    assert!(matches!(report.outcome, Outcome::Created { .. }), "{}", report.trace);
    let (_, owner, _, agent, team, priority, _) = the_ticket(&h).await;
    assert_eq!(owner, "gus@globex.com");
    assert_eq!(
        (agent, team.as_deref(), priority.as_str()),
        (None, Some("billing"), "high"),
        "an agents-only topic too"
    );
    let org = h.strings("SELECT o.key FROM tickets t JOIN orgs o ON o.id = t.org_id", "").await;
    assert_eq!(org, ["globex"], "the customer's organization by domain");
    let system = h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id", "system").await;
    assert!(system.iter().any(|s| s.starts_with("Topic set to billing")), "{system:?}");
}

async fn what_cannot_be_sent_is_refused(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let refusal = |result: Result<mailgate::ingest::Report, ConsoleError>| match result {
        Err(ConsoleError::Refused(why)) => why,
        Err(ConsoleError::NoAgent(key)) => format!("no agent {key}"),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let cases = [
        (new("not an address", "Hi", "Text"), "is not an email address"),
        (new("support@example.com", "Hi", "Text"), "one of our own addresses"),
        (new("bob@example.com", "Hi", "Text"), "an agent's address"),
        (new("ann@acme.com", "  ", "Text"), "the subject is empty"),
        (new("ann@acme.com", &"x".repeat(201), "Text"), "longer than 200"),
        (new("ann@acme.com", "Hi", " \n "), "the text is empty"),
        (
            NewForCustomer { topic: Some("nope".into()), ..new("ann@acme.com", "Hi", "Text") },
            "no [[topics]] entry",
        ),
        (NewForCustomer { agent: "zed".into(), ..new("ann@acme.com", "Hi", "Text") }, "no agent zed"),
    ];
    for (ask, why) in cases {
        let got = refusal(h.workflows.open_for_customer(ask).await);
        assert!(got.contains(why), "{why:?} in {got:?}");
    }
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 0);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound").await, 0, "refused before anything is stored");
}

async fn the_console_opens_a_ticket_for_a_customer(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, "").await else { return };
    let form = client.get("/agent/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("action=\"/agent/new\""));
    let refused =
        client.submit("/agent/new", "/agent/new", "to=bob%40example.com&subject=Hi&text=Hello").await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("is an agent&#39;s address"), "{}", refused.body);
    assert!(refused.body.contains("value=\"bob@example.com\""), "the form keeps what was typed");

    let body = format!(
        "to={}&name={}&subject={}&text={}",
        encode("zoe@example.org"),
        encode("Zoe"),
        encode("Your new laptop"),
        encode("Hi Zoe,\nyour laptop is ready for pickup.")
    );
    let opened = client.submit("/agent/new", "/agent/new", &body).await;
    let (number, owner, ..) = the_ticket(&h).await;
    assert_eq!(owner, "zoe@example.org");
    assert_eq!(opened.location(), format!("/agent/t/{number}?done=opened"));
    let page = client.get(opened.location()).await;
    assert!(page.body.contains("The ticket was opened and your message is on its way"), "{}", page.body);
    assert!(page.body.contains("your laptop is ready for pickup"));
    let outbox = h.strings("SELECT recipient FROM outbox WHERE template = $1", "response_relay").await;
    assert_eq!(outbox, ["zoe@example.org"]);
    let forged = client.post("/agent/new", &body).await;
    assert_eq!(forged.status, 403, "no CSRF token, no ticket");
}
