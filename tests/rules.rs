//! Ticket filters (`[[rules]]`) at intake: a rule on an org's custom field routes that org's mail to
//! a team, a rule on a header rejects (the sender is told), a discard is recorded, a rule on a
//! user's custom data sets priority, status and collaborators and skips the auto-response; the
//! trace and `mailgate explain` name every rule tried; `check-config` names each bad rule by line.
//! Both backends.

mod common;

use common::site::{Site, code, stdout, text};
use common::{Backend, Harness, Mail, created};
use mailgate::ingest::{Delivery, Outcome};
use mailgate::store::inbound::Source;

on_both_backends!(
    a_rule_on_an_org_custom_field_routes_to_a_team,
    a_rule_on_a_header_rejects_and_the_sender_is_told,
    a_discard_is_recorded_never_silent,
    a_rule_on_user_custom_data_sets_priority_status_and_collaborators,
);

mod blocking {
    use super::*;
    on_both_backends_blocking!(explain_names_every_rule_tried, check_config_names_bad_rules_by_line);
}

const RULES: &str = r#"
[[topics]]
key = "billing"
name = "Billing"

[[rules]]
name = "spam flag"
conditions = [{ field = "header.x-spam-flag", equals = "yes" }]
reject = "This message looks like spam to us; write again without the attachment."

[[rules]]
name = "gold orgs to billing"
conditions = [
  { field = "org.tier", equals = "gold" },
  { field = "subject", regex = "(?i)invoice|refund" },
]
topic = "billing"
assign = "team:billing"

[[rules]]
name = "newsletters"
match = "any"
conditions = [{ field = "sender_domain", one_of = ["news.example", "promo.example"] }, { field = "class", equals = "list" }]
discard = true

[[rules]]
name = "enterprise users"
conditions = [{ field = "user.plan", equals = "enterprise" }]
priority = "urgent"
status = "pending"
add_collaborators = ["csm@acme.com"]
auto_response = "skip"
stop = true
"#;

async fn harness(backend: Backend) -> Option<Harness> {
    Harness::with_config(backend, RULES).await
}

fn steps(report: &mailgate::ingest::Report, stage: &str) -> Vec<String> {
    report
        .trace
        .steps
        .iter()
        .filter(|step| step.stage == stage)
        .map(|step| format!("{} {}", step.decision, step.reason))
        .collect()
}

async fn outbox(h: &Harness) -> Vec<String> {
    h.read(|tx| {
        tx.query_all("SELECT template, recipient FROM outbox ORDER BY id", &[], |r| {
            Ok(format!("{} {}", r.string(0)?, r.string(1)?))
        })
    })
    .await
}

async fn a_rule_on_an_org_custom_field_routes_to_a_team(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let raw = Mail::new("Ann <ann@acme.com>", "Invoice 7 is wrong", "Please fix.").build();
    // explain traces every rule with its reason; the stored trace names those that did not match.
    let explained = h.ingestor.explain(raw.as_bytes(), &Delivery::new(Source::Pipe)).await.unwrap();
    assert_eq!(
        steps(&explained, "rule")[..2],
        [
            "no-match spam flag: not: header.x-spam-flag equals \"yes\" (absent)",
            "matched gold orgs to billing: all 2 conditions hold",
        ]
    );
    let report = h.pipe(&raw).await;
    created(&report);
    assert_eq!(
        steps(&report, "rule"),
        [
            "matched gold orgs to billing: all 2 conditions hold",
            "no-match 3 rules did not match (spam flag; newsletters; enterprise users); `mailgate explain` says why",
        ]
    );
    let (topic, team, agent) = h
        .read(|tx| {
            tx.query_one(
                "SELECT t.topic, tm.key, t.assignee_agent_id FROM tickets t LEFT JOIN teams tm ON tm.id = t.assignee_team_id",
                &[],
                |r| Ok((r.opt_string(0)?, r.opt_string(1)?, r.opt_i64(2)?)),
            )
        })
        .await;
    assert_eq!((topic.as_deref(), team.as_deref(), agent), (Some("billing"), Some("billing"), None));
    let entries = h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id", "system").await;
    assert!(
        entries.contains(&"Assigned to team billing by rule \"gold orgs to billing\"".to_string()),
        "{entries:?}"
    );
    assert!(
        entries.contains(&"Topic set to billing (Billing) by rule \"gold orgs to billing\"".to_string()),
        "{entries:?}"
    );
    // globex has no tier: its invoice stays with the usual rules.
    let raw = Mail::new("gus@globex.com", "Invoice 8", "Hm.").build();
    let explained = h.ingestor.explain(raw.as_bytes(), &Delivery::new(Source::Pipe)).await.unwrap();
    let why = steps(&explained, "rule").join("\n");
    assert!(why.contains("no-match gold orgs to billing: not: org.tier equals \"gold\" (absent)"), "{why}");
}

async fn a_rule_on_a_header_rejects_and_the_sender_is_told(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let mail = Mail::new("Joe <joe@example.org>", "Hello", "Buy now").header("X-Spam-Flag: YES");
    let report = h.pipe(&mail.build()).await;
    let Outcome::Quarantined { reason } = &report.outcome else {
        panic!("{:?}\n{}", report.outcome, report.trace)
    };
    assert!(reason.starts_with("rejected by rule \"spam flag\": This message looks like spam"), "{reason}");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 0);
    assert_eq!(
        h.scalar_i64("SELECT COUNT(*) FROM users").await,
        1,
        "only acme's primary contact: no user for the refused sender"
    );
    assert_eq!(outbox(&h).await, ["rejection_notice joe@example.org"]);
    let context = h.strings("SELECT context FROM outbox", "").await;
    assert!(context[0].contains("write again without the attachment"), "{}", context[0]);
    assert_eq!(steps(&report, "rule").len(), 1, "a reject ends the rules");
}

async fn a_discard_is_recorded_never_silent(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let report = h.pipe(&Mail::new("deals@promo.example", "50% off", "Today only").build()).await;
    let Outcome::Quarantined { reason } = &report.outcome else { panic!("{:?}", report.outcome) };
    assert_eq!(reason, "discarded by rule \"newsletters\": nobody was told");
    let stored = h.strings("SELECT reason FROM inbound WHERE outcome = $1", "quarantined").await;
    assert_eq!(stored, std::slice::from_ref(reason), "the inbound row keeps it with the rule's name");
    assert!(outbox(&h).await.is_empty());
}

async fn a_rule_on_user_custom_data_sets_priority_status_and_collaborators(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    // A known user whose custom data says enterprise (written by the directory in time).
    let first = h.pipe(&Mail::new("dee@example.org", "First", "Hi").build()).await;
    created(&first);
    h.write(|tx| {
        tx.execute(
            "UPDATE users SET custom = $1 WHERE email = 'dee@example.org'",
            mailgate::params!["{\"plan\":\"enterprise\"}"],
        )
    })
    .await;
    let report = h.pipe(&Mail::new("dee@example.org", "Outage", "Everything is down.").build()).await;
    let (ticket, _) = created(&report);
    assert!(
        steps(&report, "rule").contains(&"stop enterprise users: no further rules".to_string()),
        "{}",
        report.trace
    );
    let (status, priority) = h
        .read(move |tx| {
            tx.query_one(
                "SELECT status, priority FROM tickets WHERE id = $1",
                mailgate::params![ticket.0],
                |r| Ok((r.string(0)?, r.string(1)?)),
            )
        })
        .await;
    assert_eq!((status.as_str(), priority.as_str()), ("pending", "urgent"));
    let mails = outbox(&h).await;
    let on_second: Vec<&String> = mails.iter().skip_while(|m| !m.contains("csm@acme.com")).collect();
    assert!(
        !mails[2..].iter().any(|m| m.starts_with("new_ticket_auto_response")),
        "auto-response skipped: {mails:?}"
    );
    assert!(!on_second.is_empty(), "the collaborator is told: {mails:?}");
    assert!(
        report.trace.to_string().contains("no auto-response: the topic or a rule said so"),
        "{}",
        report.trace
    );
}

const MAIL: &[u8] = b"From: Joe <joe@example.org>\r\nTo: support@example.com\r\nSubject: Hello\r\nX-Spam-Flag: yes\r\nMessage-ID: <x1@example.org>\r\n\r\nBuy now\r\n";

fn explain_names_every_rule_tried(backend: Backend) {
    let extra = "\n[[rules]]\nname = \"vip\"\nconditions = [{ field = \"sender\", equals = \"vip@example.org\" }]\npriority = \"high\"\n\n[[rules]]\nname = \"spam flag\"\nconditions = [{ field = \"header.x-spam-flag\", equals = \"yes\" }]\nreject = \"No spam.\"\n";
    let Some(site) = Site::new(backend, extra) else { return };
    let file = site.dir.path().join("spam.eml");
    std::fs::write(&file, MAIL).unwrap();
    let out = site.run(&["explain", file.to_str().unwrap()], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let said = stdout(&out);
    assert!(said.contains("vip: not: sender equals \"vip@example.org\" (was \"joe@example.org\")"), "{said}");
    assert!(said.contains("spam flag: all 1 conditions hold"), "{said}");
    assert!(said.contains("rejected by rule \"spam flag\": No spam."), "{said}");
}

fn check_config_names_bad_rules_by_line(backend: Backend) {
    let extra = r#"
[[rules]]
name = "bad"
conditions = [
  { field = "subjekt", contains = "x" },
  { field = "subject", regex = "(unclosed" },
]
assign = "team:nobody"
"#;
    let Some(site) = Site::new(backend, extra) else { return };
    let out = site.run(&["check-config"], b"");
    assert_ne!(code(&out), 0, "{}", text(&out));
    let said = text(&out);
    for expected in [
        "rules[0].conditions[0].field",
        "\"subjekt\" is not a field",
        "rules[0].conditions[1].regex",
        "is not a valid regex",
        "rules[0].assign",
        "\"team:nobody\" names no [[teams]] entry",
    ] {
        assert!(said.contains(expected), "{expected:?} missing from:\n{said}");
    }
    let config = std::fs::read_to_string(site.config()).unwrap();
    let line = config.lines().position(|l| l.contains("(unclosed")).unwrap() + 1;
    assert!(
        said.contains(&format!("mailgate.toml:{line}: rules[0].conditions[1].regex")),
        "the regex's line {line}:\n{said}"
    );
}
