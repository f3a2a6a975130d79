//! Help topics and routing by receiving address: the envelope recipient, To/Cc and the mailbox
//! choose a topic that assigns and sets the priority (system entries, trace); `#topic` and the
//! console change it; mail to the customer comes from the address they wrote to and its reply
//! address threads back. Both backends.

mod common;

use common::ports::free_port;
use common::smtp::{SmtpSink, available, header, mail_to, worker};
use common::{Backend, Harness, Mail, added, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::address::EmailAddress;
use mailgate::core::ids::{TicketId, UserId};
use mailgate::core::ticket::TicketNumber;
use mailgate::ingest::Delivery;
use mailgate::store::inbound::Source;
use mailgate::workflow::ConsoleAction;

on_both_backends!(
    the_receiving_address_routes_to_its_topic,
    the_envelope_recipient_decides_before_to,
    a_topic_outranks_the_account_manager,
    agents_change_the_topic_by_command_and_console,
    mail_to_the_customer_comes_from_the_address_they_wrote_to,
    the_console_sets_the_topic_and_shows_due_and_overdue,
    the_portal_offers_public_topics_only,
    a_topic_or_a_rule_chooses_the_auto_response,
    a_topics_form_is_filled_on_the_portal_read_by_rules_and_shown,
    custom_data_reaches_mail_templates_by_who_may_read_it,
);

const TOPICS: &str = r#"
[instance]
support_addresses = ["support@example.com", "billing@example.com", "sales@example.com"]
message_id_domain = "mg.mailgate.test"

[[topics]]
key = "billing"
name = "Billing questions"
assign = "team:billing"
priority = "high"
addresses = ["billing@example.com"]

[[topics]]
key = "sales"
name = "Sales"
assign = "agent:bob"
public = false
addresses = ["sales@example.com"]
"#;

/// The harness with the test config's `[instance]` replaced by [`TOPICS`]'s.
async fn harness(backend: Backend) -> Option<Harness> {
    let db = common::TestDb::new(backend).await?;
    let base = common::test_config(&db, "");
    let text = format!("{TOPICS}\n[database]\nurl = \"{}\"\n{}", db.url, common::DIRECTORY);
    let config = mailgate::config::from_toml(&text, "<test>").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.agents, base.agents);
    Some(Harness::open(db, config, mailgate::clock::FixedClock::at(common::T0)).await)
}

/// [`harness`] with more configuration: `topic_billing` goes into the billing topic's table,
/// `extra` after everything.
async fn harness_with(backend: Backend, topic_billing: &str, extra: &str) -> Option<Harness> {
    let db = common::TestDb::new(backend).await?;
    let topics = TOPICS.replace(
        "addresses = [\"billing@example.com\"]",
        &format!("addresses = [\"billing@example.com\"]\n{topic_billing}"),
    );
    let text = format!("{topics}\n[database]\nurl = \"{}\"\n{}\n{extra}", db.url, common::DIRECTORY);
    let config = mailgate::config::from_toml(&text, "<test>").unwrap_or_else(|e| panic!("{e}"));
    Some(Harness::open(db, config, mailgate::clock::FixedClock::at(common::T0)).await)
}

/// (topic, reply_from, priority, assigned agent key, assigned team key) of the only ticket.
async fn routing_row(
    h: &Harness,
) -> (Option<String>, Option<String>, String, Option<String>, Option<String>) {
    h.read(|tx| {
        tx.query_one(
            "SELECT t.topic, t.reply_from, t.priority, a.key, tm.key FROM tickets t
               LEFT JOIN agents a ON a.id = t.assignee_agent_id LEFT JOIN teams tm ON tm.id = t.assignee_team_id",
            &[],
            |r| Ok((r.opt_string(0)?, r.opt_string(1)?, r.string(2)?, r.opt_string(3)?, r.opt_string(4)?)),
        )
    })
    .await
}

async fn system_entries(h: &Harness) -> Vec<String> {
    h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id", "system").await
}

fn to(address: &str, mail: Mail) -> Mail {
    Mail { to: address.to_string(), ..mail }
}

async fn the_receiving_address_routes_to_its_topic(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let mail =
        to("Billing <billing@example.com>", Mail::new("jane@example.org", "Invoice 42", "Wrong amount."));
    let report = h.pipe(&mail.build()).await;
    created(&report);
    let trace = report.trace.to_string();
    assert!(
        trace.contains(
            "Topic set to billing (Billing questions) by routing (billing: To/Cc billing@example.com)"
        ),
        "{trace}"
    );
    assert_eq!(
        routing_row(&h).await,
        (
            Some("billing".into()),
            Some("billing@example.com".into()),
            "high".into(),
            None,
            Some("billing".into())
        )
    );
    assert_eq!(
        system_entries(&h).await,
        [
            "Topic set to billing (Billing questions) by routing (billing: To/Cc billing@example.com)",
            "Assigned to team billing by topic billing",
        ]
    );
    let customers = h.strings("SELECT customer_text FROM entries WHERE customer_text IS NOT NULL", "").await;
    assert_eq!(customers, ["The Billing team is looking into this"], "what the customer reads");
    // Mail to the plain support address has no topic and the default priority.
    let plain = Mail::new("joe@example.org", "Hello", "A question.");
    let report = h.pipe(&plain.build()).await;
    assert!(
        report.trace.to_string().contains("no receiving address or mailbox names a topic"),
        "{}",
        report.trace
    );
}

async fn the_envelope_recipient_decides_before_to(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let mail = to("support@example.com", Mail::new("jane@example.org", "Quote please", "10 seats."));
    let delivery = Delivery {
        recipients: vec![EmailAddress::parse("sales@example.com").unwrap()],
        ..Delivery::new(Source::Pipe)
    };
    let report = h.ingestor.ingest(mail.build().as_bytes(), &delivery).await.unwrap();
    created(&report);
    let (topic, reply_from, priority, agent, _) = routing_row(&h).await;
    assert_eq!(
        (topic.as_deref(), reply_from.as_deref(), priority.as_str(), agent.as_deref()),
        (Some("sales"), Some("sales@example.com"), "normal", Some("bob"))
    );
}

async fn a_topic_outranks_the_account_manager(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    // acme's account manager alice would get it; the billing topic assigns it to its team.
    let mail = to("billing@example.com", Mail::new("ann@acme.com", "Invoice", "Too high."));
    let report = h.pipe(&mail.build()).await;
    created(&report);
    assert!(report.trace.to_string().contains("manager-skipped"), "{}", report.trace);
    let (_, _, _, agent, team) = routing_row(&h).await;
    assert_eq!((agent, team.as_deref()), (None, Some("billing")));
}

async fn agents_change_the_topic_by_command_and_console(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let (ticket, number) = created(&h.pipe(&Mail::new("ann@acme.com", "Printer", "Broken.").build()).await);
    let claims = mailgate::auth::token::Claims {
        purpose: mailgate::auth::token::Purpose::Reply,
        ticket,
        participant: mailgate::auth::token::Participant::Agent(mailgate::core::ids::AgentId(
            h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await,
        )),
        expires_at_ms: common::T0 + 365 * common::DAY_MS,
        epoch: 0,
    };
    let reply_to = format!("support+{}@example.com", h.app.settings().keyring.address_token(&claims));
    let mut mail = Mail::new("alice@example.com", "Re: Printer", "#topic Billing\nMoving this.");
    mail.to = reply_to.clone();
    added(&h.pipe(&mail.build()).await);
    assert_eq!(routing_row(&h).await.0.as_deref(), Some("billing"));
    assert_eq!(
        system_entries(&h).await.last().unwrap(),
        "Topic none -> billing (Billing questions) by agent alice"
    );

    let mut bad = Mail::new("alice@example.com", "Re: Printer", "#topic nowhere\nx");
    bad.to = reply_to;
    let report = h.pipe(&bad.build()).await;
    assert!(report.trace.to_string().contains("held"), "an unknown topic applies nothing: {}", report.trace);

    let number = TicketNumber::parse(&number.to_string()).unwrap();
    let done = h.workflows.console_change(&number, ConsoleAction::Topic("sales".into())).await.unwrap();
    assert_eq!(done, ["Topic billing -> sales (Sales) by an admin"]);
    let again = h.workflows.console_change(&number, ConsoleAction::Topic("sales".into())).await.unwrap();
    assert!(again.is_empty(), "no change, no entry: {again:?}");
    let refused = h.workflows.console_change(&number, ConsoleAction::Topic("nowhere".into())).await;
    assert!(refused.unwrap_err().to_string().contains("no [[topics]] entry has the key \"nowhere\""));
}

async fn mail_to_the_customer_comes_from_the_address_they_wrote_to(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    if !common::require(available(), "aiosmtpd", "apt install python3-aiosmtpd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let mail = to(
        "Sales <sales@example.com>",
        Mail::new("Jane <jane@example.org>", "Quote", "10 seats.").id("<j1@example.org>"),
    );
    let (ticket, _) = created(&h.pipe(&mail.build()).await);
    worker(&h, sink.port).drain_once().await.unwrap();
    let delivered = sink.messages();
    let auto = mail_to(&delivered, "jane@example.org");
    assert!(header(auto, "From").unwrap().contains("<sales@example.com>"), "{auto}");
    let reply_to = header(auto, "Reply-To").unwrap();
    assert!(reply_to.contains("<sales+"), "the reply address is minted on it: {reply_to}");
    let address = reply_to.rsplit('<').next().unwrap().trim_end_matches('>').to_string();
    let reply = Mail { to: address, ..Mail::new("jane@example.org", "Re: Quote", "Any discount?") };
    assert_eq!(added(&h.pipe(&reply.build()).await).0, ticket, "and threads back to the ticket");
}

async fn the_console_sets_the_topic_and_shows_due_and_overdue(backend: Backend) {
    let extra = "[[topics]]\nkey = \"billing\"\nname = \"Billing questions\"\n\n\
                 [[sla]]\nkey = \"hour\"\ngrace_hours = 1\ndefault = true\n";
    let Some((h, mut client)) = common::http::agent_console(backend, extra).await else { return };
    let (_, number) = created(&h.pipe(&Mail::new("ann@acme.com", "Printer", "Broken.").build()).await);
    let page = format!("/agent/t/{number}");
    let done = client.submit(&page, &format!("{page}/topic"), "topic=billing").await;
    assert!(done.location().contains("done=topic"), "{} {}", done.status, done.body);
    let shown = client.get(&page).await.body;
    assert!(shown.contains("<dt>Topic</dt><dd>billing</dd>"), "{shown}");
    assert!(shown.contains("class=\"due\"") && !shown.contains("class=\"overdue\""), "{shown}");
    let entries = h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id", "system").await;
    assert_eq!(entries.last().unwrap(), "Topic none -> billing (Billing questions) by agent alice");

    h.clock.advance_ms(3_600_000);
    assert_eq!(h.workflows.mark_overdue().await.unwrap(), 1);
    let queue = client.get("/agent?sort=due").await.body;
    assert!(queue.contains("<span class=\"overdue\">overdue</span>"), "{queue}");
    assert!(client.get(&page).await.body.contains("class=\"overdue\""));
}

/// The portal's new-ticket form offers the public topics (not agents-only ones); the one chosen
/// is the ticket's, ahead of routing by address; a topic not offered is refused, nothing stored.
async fn the_portal_offers_public_topics_only(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let mut client = common::http::Client::new(common::http::serve(&h).await);
    let page = client.get("/tickets/new").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<option value=\"billing\">Billing questions</option>"), "{}", page.body);
    assert!(!page.body.contains("value=\"sales\""), "agents-only topics are not offered:\n{}", page.body);

    let refused = "name=Gus&email=gus%40guest.example&subject=Quote&message=Ten+seats&topic=sales";
    let sent = client.submit("/tickets/new", "/tickets/new", refused).await;
    assert_eq!(sent.status, 400, "{}", sent.body);
    assert!(sent.body.contains("Please choose one of the topics offered."), "{}", sent.body);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 0);

    let chosen = "name=Gus&email=gus%40guest.example&subject=Invoice&message=Charged+twice&topic=billing";
    let sent = client.submit("/tickets/new", "/tickets/new", chosen).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let (topic, _, priority, _, team) = routing_row(&h).await;
    assert_eq!(
        (topic.as_deref(), priority.as_str(), team.as_deref()),
        (Some("billing"), "high", Some("billing"))
    );
    assert!(system_entries(&h).await[0].contains("chosen on the portal"), "{:?}", system_entries(&h).await);
}

/// A variant triple `new_ticket_auto_response.NAME` in `dir`, saying `says`.
fn auto_response_variant(dir: &std::path::Path, name: &str, says: &str) {
    let base = dir.join(format!("new_ticket_auto_response.{name}"));
    let file =
        |part: &str, text: String| std::fs::write(format!("{}.{part}.tera", base.display()), text).unwrap();
    file("subject", format!("{says} [#{{{{ ticket.number }}}}]"));
    file("txt", format!("{{{{ reply_marker }}}}\n{says}: {{{{ ticket.subject }}}}\n"));
    file("html", format!("<p>{{{{ reply_marker }}}}</p><p>{says}: {{{{ ticket.subject }}}}</p>"));
}

async fn a_topic_or_a_rule_chooses_the_auto_response(backend: Backend) {
    let templates = tempfile::tempdir().unwrap();
    auto_response_variant(templates.path(), "billing", "Billing will answer within a day");
    auto_response_variant(templates.path(), "vip", "A senior engineer has your ticket");
    let extra = format!(
        "[templates]\ndir = \"{}\"\n\n\
         [[rules]]\nname = \"vip\"\nconditions = [{{ field = \"subject\", contains = \"VIP\" }}]\nauto_response = \"vip\"\n\n\
         [[rules]]\nname = \"quiet\"\nconditions = [{{ field = \"subject\", contains = \"quiet\" }}]\nauto_response = \"skip\"\n",
        templates.path().display()
    );
    let Some(h) = harness_with(backend, "auto_response = \"billing\"", &extra).await else { return };
    if !common::require(available(), "aiosmtpd", "apt install python3-aiosmtpd") {
        return;
    }
    let write = |from: &str, to_address: &str, subject: &str| {
        to(
            to_address,
            Mail::new(from, subject, "Please help.")
                .id(&format!("<{}@example.org>", from.len() + subject.len())),
        )
    };
    let billing = h.pipe(&write("ann@example.org", "billing@example.com", "Invoice 7").build()).await;
    let steps: Vec<String> =
        billing.trace.steps.iter().map(|s| format!("{} {}", s.decision, s.reason)).collect();
    assert!(steps.iter().any(|s| s == "auto-response the variant billing (by topic billing)"), "{steps:#?}");
    h.pipe(&write("bo@example.org", "billing@example.com", "VIP: invoice").build()).await;
    h.pipe(&write("cy@example.org", "billing@example.com", "quiet invoice").build()).await;
    h.pipe(&write("di@example.org", "support@example.com", "Printer").build()).await;

    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    worker(&h, sink.port).drain_once().await.unwrap();
    let delivered = sink.messages();
    let ann = mail_to(&delivered, "ann@example.org");
    assert!(ann.contains("Billing will answer within a day: Invoice 7"), "the topic's variant:\n{ann}");
    assert!(header(ann, "Subject").unwrap().starts_with("Billing will answer within a day [#"), "{ann}");
    let bo = mail_to(&delivered, "bo@example.org");
    assert!(
        bo.contains("A senior engineer has your ticket"),
        "a rule's variant wins over the topic's:\n{bo}"
    );
    let to_cy = delivered.iter().filter(|m| header(m, "To").is_some_and(|to| to.contains("cy@example.org")));
    assert_eq!(to_cy.count(), 0, "a rule skipped it");
    let di = mail_to(&delivered, "di@example.org");
    assert!(!di.contains("Billing will answer") && !di.contains("senior engineer"), "the usual one:\n{di}");
}

const HARDWARE: &str = r#"
[[forms]]
key = "hardware"
applies_to = "ticket"
fields = [
  { key = "product", label = "Product", type = "choice", choices = ["Router", "Switch"], required = true, editable_by = "user" },
  { key = "ports", label = "Ports", type = "multi_choice", choices = ["wan", "lan"], editable_by = "user" },
  { key = "cost", label = "Internal cost", type = "number", visible_to_user = false },
]

[[topics]]
key = "hardware"
name = "Hardware"
form = "hardware"

[[rules]]
name = "switches are urgent"
conditions = [{ field = "ticket.product", equals = "switch" }]
priority = "urgent"
"#;

async fn a_topics_form_is_filled_on_the_portal_read_by_rules_and_shown(backend: Backend) {
    let Some((h, mut agent)) = common::http::agent_console(backend, HARDWARE).await else { return };
    let mut guest = common::http::Client::new(common::http::serve(&h).await);
    let first = guest.get("/tickets/new").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.contains("method=\"get\""), "the topic comes first:\n{}", first.body);
    assert!(first.body.contains("name=\"topic\" value=\"hardware\""), "{}", first.body);
    assert!(first.body.contains("Something else"), "{}", first.body);
    let elsewhere = guest.get("/tickets/new?topic=").await.body;
    assert!(elsewhere.contains("Topic: something else") && !elsewhere.contains("field."), "{elsewhere}");
    let step = guest.get("/tickets/new?topic=hardware").await.body;
    assert!(step.contains("Topic: <strong>Hardware</strong>"), "{step}");
    assert!(step.contains("name=\"field.product\" required"), "{step}");
    assert!(step.contains("type=\"checkbox\" name=\"field.ports\" value=\"lan\""), "{step}");
    assert!(!step.contains("field.cost"), "agents' fields are not offered:\n{step}");

    let base = "name=Gus&email=gus%40guest.example&subject=Dead+switch&message=No+lights&topic=hardware";
    let missing = guest.submit("/tickets/new?topic=hardware", "/tickets/new", base).await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(missing.body.contains("Product (product): is required"), "{}", missing.body);
    assert!(
        missing.body.contains("value=\"No lights\"") || missing.body.contains("No lights"),
        "kept:\n{}",
        missing.body
    );
    let forged =
        format!("{base}&field.product=Switch&field.ports=wan&field.ports=LAN&field.cost=0&field.other=x");
    let sent = guest.submit("/tickets/new?topic=hardware", "/tickets/new", &forged).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let stored = h.strings("SELECT custom FROM tickets", "").await;
    let stored: serde_json::Value = serde_json::from_str(&stored[0]).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({ "product": "Switch", "ports": ["wan", "lan"] }),
        "typed, no agent field"
    );
    let (topic, _, priority, _, _) = routing_row(&h).await;
    assert_eq!(
        (topic.as_deref(), priority.as_str()),
        (Some("hardware"), "urgent"),
        "a rule read ticket.product"
    );

    let number = h.strings("SELECT number FROM tickets", "").await.remove(0);
    let console = agent.get(&format!("/agent/t/{number}")).await.body;
    assert!(console.contains("<dt>Product</dt><dd>Switch</dd>"), "{console}");
    assert!(console.contains("<dt>Ports</dt><dd>wan, lan</dd>"), "{console}");

    // The customer's page shows the fields visible to users.
    let (ticket, user) = h
        .read(|tx| tx.query_one("SELECT id, user_id FROM tickets", &[], |r| Ok((r.i64(0)?, r.i64(1)?))))
        .await;
    let claims = Claims {
        purpose: Purpose::View,
        ticket: TicketId(ticket),
        participant: Participant::User(UserId(user)),
        expires_at_ms: common::T0 + 86_400_000,
        epoch: 0,
    };
    let page = guest.get(&format!("/t/{}", h.app.settings().keyring.link(&claims))).await;
    assert!(page.body.contains("<dt>Product</dt><dd>Switch</dd>"), "{}", page.body);
}

const INVOICE_FORMS: &str = r#"
[[forms]]
key = "invoice"
applies_to = "ticket"
fields = [
  { key = "amount", label = "Amount", type = "number" },
  { key = "margin", label = "Margin", type = "number", visible_to_user = false },
]

[[forms]]
key = "customer"
applies_to = "user"
fields = [
  { key = "account", label = "Account", type = "text" },
  { key = "risk", label = "Risk", type = "choice", choices = ["low", "high"], visible_to_user = false },
]
"#;

/// An override of `mail` that prints every custom value it is given, one per line.
fn fields_template(dir: &std::path::Path, mail: &str) {
    let lines = "{% for f in ticket.fields %}T {{ f.label }}={{ f.value }}\n{% endfor %}\
                 {% for f in ticket.customer_fields %}C {{ f.label }}={{ f.value }}\n{% endfor %}\
                 {% for f in ticket.org_fields %}O {{ f.label }}={{ f.value }}\n{% endfor %}";
    let file =
        |part: &str, text: String| std::fs::write(dir.join(format!("{mail}.{part}.tera")), text).unwrap();
    file("subject", format!("{mail} [#{{{{ ticket.number }}}}]"));
    file("txt", format!("{{{{ reply_marker }}}}\nfields:\n{lines}end\n"));
    file("html", format!("<p>{{{{ reply_marker }}}}</p><pre>{lines}</pre>"));
}

/// Templates get the ticket's, the owner's and the organization's custom data by label: the
/// agents' alert every value, the auto-response to an unverified From none.
async fn custom_data_reaches_mail_templates_by_who_may_read_it(backend: Backend) {
    let templates = tempfile::tempdir().unwrap();
    fields_template(templates.path(), "new_ticket_alert");
    fields_template(templates.path(), "new_ticket_auto_response");
    let extra = format!("{INVOICE_FORMS}\n[templates]\ndir = \"{}\"\n", templates.path().display());
    let Some(h) = harness_with(backend, "form = \"invoice\"", &extra).await else { return };
    if !common::require(available(), "aiosmtpd", "apt install python3-aiosmtpd") {
        return;
    }
    let mail = to(
        "billing@example.com",
        Mail::new("ann@example.org", "Invoice 7", "Please help.").id("<inv7@example.org>"),
    );
    h.pipe(&mail.build()).await;
    h.write(|tx| {
        tx.execute("UPDATE tickets SET custom = '{\"amount\": 120, \"margin\": 35}'", &[])?;
        tx.execute("UPDATE users SET custom = '{\"account\": \"A-7\", \"risk\": \"high\"}' WHERE email = 'ann@example.org'", &[])
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    worker(&h, sink.port).drain_once().await.unwrap();
    let delivered = sink.messages();
    let alert = delivered
        .iter()
        .find(|m| header(m, "Subject").is_some_and(|s| s.starts_with("new_ticket_alert")))
        .expect("an alert");
    for line in ["T Amount=120", "T Margin=35", "C Account=A-7", "C Risk=high"] {
        assert!(alert.contains(line), "agents read {line}:\n{alert}");
    }
    let answer = mail_to(&delivered, "ann@example.org");
    assert!(
        answer.contains("fields:\r\nend") || answer.contains("fields:\nend"),
        "the auto-response shows none:\n{answer}"
    );
}
