//! Only mail we sent is our own: a Message-ID in the support address's domain (what Thunderbird,
//! Apple Mail and Postfix mint for an agent or an employee there) is somebody's mail, while an id
//! we minted coming back is a loop. Default `message_id_domain` (the support domain), both backends.

mod common;

use common::{Backend, Harness, Mail, T0, TestDb, added, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::clock::FixedClock;
use mailgate::core::ids::{AgentId, TicketId};
use mailgate::ingest::Outcome;
use mailgate::store::tickets::EntryClass;

on_both_backends!(
    an_agent_replying_from_thunderbird_at_the_support_domain_is_not_a_loop,
    an_employee_at_the_support_domain_opens_a_ticket,
    our_auto_response_piped_back_is_still_a_loop,
);

const DAY: i64 = 24 * 60 * 60 * 1000;

/// The tests' harness with `message_id_domain` left at its default: example.com, the domain of
/// support@example.com and of agent alice@example.com.
async fn harness(backend: Backend) -> Option<Harness> {
    let db = TestDb::new(backend).await?;
    let text = format!(
        r#"
[instance]
support_addresses = ["support@example.com"]

[database]
url = "{url}"

[[agents]]
key = "alice"
name = "Alice Agent"
emails = ["alice@example.com"]
"#,
        url = db.url
    );
    let config = mailgate::config::from_toml(&text, "<test>").unwrap_or_else(|e| panic!("config:\n{e}"));
    assert_eq!(config.instance.message_id_domain, "example.com", "the default is the support domain");
    Some(Harness::open(db, config, FixedClock::at(T0)).await)
}

async fn customer_ticket(h: &Harness) -> TicketId {
    created(
        &h.pipe(
            &Mail::new("Ann <ann@acme.test>", "Printer on fire", "Help!").id("<ann-1@acme.test>").build(),
        )
        .await,
    )
    .0
}

async fn an_agent_replying_from_thunderbird_at_the_support_domain_is_not_a_loop(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let ticket = customer_ticket(&h).await;
    let alice = AgentId(
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await,
    );
    let claims = Claims {
        purpose: Purpose::Reply,
        ticket,
        participant: Participant::Agent(alice),
        expires_at_ms: T0 + 365 * DAY,
        epoch: 0,
    };
    let reply_address = format!("support+{}@example.com", h.app.settings().keyring.address_token(&claims));
    let alert = h.strings("SELECT message_id FROM outbox WHERE template = $1", "new_ticket_alert").await;
    // Thunderbird: a UUID Message-ID in the sender's domain, which is the support domain here.
    let mut reply = Mail::new(
        "Alice Agent <alice@example.com>",
        "Re: [#1] New ticket: Printer on fire",
        "A technician is on the way.\n\nOn 23/11/2026 10:00, Support wrote:\n> Printer on fire\n",
    )
    .id("<3f9c2a4e-81b7-4d0c-9e55-6a1f0b2c7d31@example.com>")
    .in_reply_to(&format!("<{}>", alert[0]))
    .header("User-Agent: Mozilla Thunderbird")
    .header("Content-Language: en-US");
    reply.to = reply_address;
    let report = h.pipe(&reply.build()).await;
    assert_eq!(added(&report).0, ticket, "{}", report.trace);
    let trace = report.trace.to_string();
    assert!(!trace.contains("loop"), "{trace}");
    let kind = h
        .read(|tx| tx.query_one("SELECT kind FROM entries ORDER BY id DESC LIMIT 1", &[], |r| r.string(0)))
        .await;
    assert_eq!(kind, "response");
}

async fn an_employee_at_the_support_domain_opens_a_ticket(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    // Postfix's own Message-ID for a local user: `<date.queue-id@myhostname>`.
    let mail = Mail::new("Carol Employee <carol@example.com>", "VPN is down", "I cannot connect.")
        .id("<20261123100000.4F2A31C0142@example.com>")
        .header("User-Agent: Postfix sendmail");
    let report = h.pipe(&mail.build()).await;
    let (ticket, _) = created(&report);
    assert!(report.trace.to_string().contains("no rule matched"), "{}", report.trace);
    let owner = h
        .read(move |tx| {
            tx.query_one(
                "SELECT u.email FROM tickets t JOIN users u ON u.id = t.user_id WHERE t.id = $1",
                mailgate::params![ticket.0],
                |r| r.string(0),
            )
        })
        .await;
    assert_eq!(owner, "carol@example.com");
}

async fn our_auto_response_piped_back_is_still_a_loop(backend: Backend) {
    // As we sent it (our address, our loop header), and rewritten on its way back (a forwarder
    // replaced From and dropped our headers): the Message-ID alone still says it is ours.
    let as_sent = |id: &str| {
        Mail::new("Support <support@example.com>", "[#1] Printer on fire", "We got your mail.")
            .id(id)
            .header("Auto-Submitted: auto-replied")
            .header("X-Mailgate-Loop: example.com")
    };
    let rewritten = |id: &str| {
        Mail::new("Ann via Forwarder <forwarder@relay.test>", "[#1] Printer on fire", "We got your mail.")
            .id(id)
    };
    for (variant, mail) in [("as sent", &as_sent as &dyn Fn(&str) -> Mail), ("rewritten", &rewritten)] {
        let Some(h) = harness(backend).await else { return };
        customer_ticket(&h).await;
        let ours =
            h.strings("SELECT message_id FROM outbox WHERE template = $1", "new_ticket_auto_response").await;
        let id = format!("<{}>", ours[0]);
        let report = h.pipe(&mail(&id).build()).await;
        assert_eq!(report.outcome, Outcome::Loop, "{variant}: {}", report.trace);
        assert_eq!(report.class, Some(EntryClass::Loop), "the report carries the verdict");
        let again = h.pipe(&mail(&id).build()).await;
        assert_eq!(
            (again.outcome, again.class),
            (Outcome::Duplicate, None),
            "{variant}: not classified twice"
        );
        if variant == "rewritten" {
            let trace = report.trace.to_string();
            assert!(trace.contains(&format!("Message-ID {id} is one we sent")), "{trace}");
        }
        assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 1);
        assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound WHERE outcome = 'loop'").await, 1);
    }
}
