//! Canned responses (`[[canned]]`, texts in `templates.dir/canned/`): `#canned KEY` in an agent's
//! mail adds the filled text to the response; an unknown key holds the mail with the reason; the
//! console's "Insert" fills the reply form. Both backends.

mod common;

use common::{Backend, Harness, Mail, T0, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{AgentId, TicketId};
use mailgate::ingest::Outcome;

on_both_backends!(
    an_agents_mail_adds_a_canned_response_filled_for_the_ticket,
    an_unknown_canned_response_holds_the_mail_with_the_reason,
    the_console_fills_the_reply_form_with_a_canned_response,
);

const RESTART: &str = "Hello {{ customer.first_name }},\n\nplease restart the router of ticket #{{ ticket.number }} \
                       (\"{{ ticket.subject }}\").\n\n{{ agent.name }}, {{ instance_name }}\n";

/// A templates directory with the `restart` text, and the configuration naming it.
fn canned_config() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("canned")).unwrap();
    std::fs::write(dir.path().join("canned/restart.tera"), RESTART).unwrap();
    let extra = format!(
        "[templates]\ndir = \"{}\"\n\n[[canned]]\nkey = \"restart\"\ntitle = \"Restart the router\"\n",
        dir.path().display()
    );
    (dir, extra)
}

async fn ann_ticket(h: &Harness) -> (TicketId, String) {
    let mail =
        Mail::new("Ann Example <ann@acme.com>", "No internet", "Nothing loads.").id("<ann-1@acme.com>");
    let (id, number) = created(&h.pipe(&mail.build()).await);
    (id, number.to_string())
}

/// An agent's reply to `ticket`'s reply address saying `text`.
async fn agent_reply(h: &Harness, ticket: TicketId, text: &str) -> mailgate::ingest::Report {
    let alice = AgentId(
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await,
    );
    let claims = Claims {
        purpose: Purpose::Reply,
        ticket,
        participant: Participant::Agent(alice),
        expires_at_ms: T0 + 86_400_000,
        epoch: 0,
    };
    let to = format!("support+{}@example.com", h.app.settings().keyring.address_token(&claims));
    let mut mail = Mail::new("Alice Agent <alice@example.com>", "Re: No internet", text);
    mail.to = to;
    h.pipe(&mail.build()).await
}

async fn last_entry(h: &Harness) -> (String, String) {
    h.read(|tx| {
        tx.query_one(
            "SELECT kind, COALESCE(stripped_text, body_text) FROM entries ORDER BY id DESC LIMIT 1",
            &[],
            |r| Ok((r.string(0)?, r.string(1)?)),
        )
    })
    .await
}

async fn an_agents_mail_adds_a_canned_response_filled_for_the_ticket(backend: Backend) {
    let (_dir, extra) = canned_config();
    let Some(h) = Harness::with_config(backend, &extra).await else { return };
    let (ticket, number) = ann_ticket(&h).await;
    let report = agent_reply(&h, ticket, "#canned Restart\nI checked the line: it is fine.\n").await;
    assert!(
        matches!(report.outcome, Outcome::Added { held: false, .. }),
        "{:?}\n{}",
        report.outcome,
        report.trace
    );
    let (kind, text) = last_entry(&h).await;
    assert_eq!(kind, "response");
    assert_eq!(
        text,
        format!(
            "I checked the line: it is fine.\n\nHello Ann,\n\nplease restart the router of ticket #{number} \
             (\"No internet\").\n\nAlice Agent, ACME Support"
        )
        .replace("ACME Support", &h.config.instance.name)
    );
    let relays = h.strings("SELECT recipient FROM outbox WHERE template = $1", "response_relay").await;
    assert_eq!(relays, ["ann@acme.com", "boss@acme.com"], "relayed like any response (the org adds boss)");

    // A canned response alone is a whole response.
    let report = agent_reply(&h, ticket, "#canned restart\n").await;
    assert!(matches!(report.outcome, Outcome::Added { held: false, .. }), "{:?}", report.outcome);
    assert!(last_entry(&h).await.1.starts_with("Hello Ann,"), "{:?}", last_entry(&h).await);
}

async fn an_unknown_canned_response_holds_the_mail_with_the_reason(backend: Backend) {
    let (_dir, extra) = canned_config();
    let Some(h) = Harness::with_config(backend, &extra).await else { return };
    let (ticket, _) = ann_ticket(&h).await;
    let report = agent_reply(&h, ticket, "#close\n#canned reboot\nDone.\n").await;
    assert!(matches!(report.outcome, Outcome::Added { held: true, .. }), "{:?}", report.outcome);
    assert!(
        report.trace.to_string().contains("no canned response has the key \"reboot\""),
        "{}",
        report.trace
    );
    let status = h.strings("SELECT status FROM tickets", "").await;
    assert_eq!(status, ["open"], "no command was applied");
    let relays = h.strings("SELECT recipient FROM outbox WHERE template = $1", "response_relay").await;
    assert!(relays.is_empty(), "nothing reached the customer: {relays:?}");
}

async fn the_console_fills_the_reply_form_with_a_canned_response(backend: Backend) {
    let (_dir, extra) = canned_config();
    let Some((h, mut client)) = common::http::agent_console(backend, &extra).await else { return };
    let (_, number) = ann_ticket(&h).await;
    let page = client.get(&format!("/agent/t/{number}")).await.body;
    assert!(page.contains("<option value=\"restart\">Restart the router</option>"), "{page}");
    let filled = client.get(&format!("/agent/t/{number}?canned=restart")).await.body;
    assert!(
        filled.contains("name=\"text\" rows=\"6\">Hello Ann,\n\nplease restart the router of ticket"),
        "{filled}"
    );
    assert!(filled.contains("(&quot;No internet&quot;)"), "escaped in the page: {filled}");
    let unknown = client.get(&format!("/agent/t/{number}?canned=nope")).await;
    assert_eq!(unknown.status, 200);
    assert!(unknown.body.contains("rows=\"6\"></textarea>"), "an unknown key leaves the form empty");
}
