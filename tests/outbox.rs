//! Automatic mail written to the outbox in the ingest transaction: who gets what, loop safety, the
//! governor, and threading of replies to the Message-IDs we minted. Both backends.

mod common;

use common::{Backend, Harness, Mail, added, created};
use mailgate::ingest::Outcome;

on_both_backends!(
    new_ticket_answers_owner_notifies_contacts_and_alerts_manager,
    customer_reply_alerts_the_assignee_only,
    team_alert_and_unassigned_alert_all,
    alerts_reach_the_assignee_and_its_team_once_and_pass_over_an_inactive_assignee,
    automatic_and_list_mail_is_never_answered,
    governor_caps_automatic_mail_per_address,
    replies_to_our_mail_thread_by_its_message_id,
    bounce_of_our_mail_alerts_the_assignee,
    over_limit_mail_is_quarantined_and_its_sender_told,
);

/// `(template, recipient)` of every outbox row, oldest first.
async fn outbox(h: &Harness) -> Vec<(String, String)> {
    h.read(|tx| {
        tx.query_all("SELECT template, recipient FROM outbox ORDER BY id", &[], |r| {
            Ok((r.string(0)?, r.string(1)?))
        })
    })
    .await
}

fn rows(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

async fn new_ticket_answers_owner_notifies_contacts_and_alerts_manager(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let report =
        h.pipe(&Mail::new("Ann <ann@acme.com>", "Broken", "It broke.").cc("carl@acme.com").build()).await;
    created(&report);
    assert_eq!(
        outbox(&h).await,
        rows(&[
            ("new_ticket_auto_response", "ann@acme.com"),
            ("collaborator_notice", "carl@acme.com"),
            ("collaborator_notice", "boss@acme.com"),
            ("new_ticket_alert", "alice@example.com"),
        ])
    );
    // Every queued mail's Message-ID is ours and known for threading.
    let outgoing = h.scalar_i64("SELECT COUNT(*) FROM message_ids WHERE direction = 'out'").await;
    assert_eq!(outgoing, 4);
    let ids = h.strings("SELECT message_id FROM outbox", "").await;
    assert!(ids.iter().all(|id| id.ends_with("@mg.mailgate.test")), "{ids:?}");
    let context =
        h.strings("SELECT context FROM outbox WHERE template = 'new_ticket_auto_response'", "").await;
    let context: serde_json::Value = serde_json::from_str(&context[0]).unwrap();
    assert_eq!(context["ticket"]["subject"], "Broken");
    // The auto-response goes to an unverified From: none of the requester's text (issue 13).
    assert!(context["message"]["entry_id"].is_null(), "the auto-response quotes nothing");
    let alert = h.strings("SELECT context FROM outbox WHERE template = 'new_ticket_alert'", "").await;
    let alert: serde_json::Value = serde_json::from_str(&alert[0]).unwrap();
    assert!(alert["message"]["entry_id"].is_i64(), "the text is quoted from its entry at send time");
    assert!(report.trace.to_string().contains("queued"), "{}", report.trace);
}

async fn customer_reply_alerts_the_assignee_only(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&Mail::new("ann@acme.com", "Broken", "x").id("<r1@acme.com>").build()).await);
    let before = outbox(&h).await.len();
    added(
        &h.pipe(&Mail::new("ann@acme.com", "Re: Broken", "more").in_reply_to("<r1@acme.com>").build()).await,
    );
    assert_eq!(outbox(&h).await[before..], rows(&[("new_message_alert", "alice@example.com")]));
}

async fn team_alert_and_unassigned_alert_all(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    // globex: account manager team billing (member bob), alert mode.
    created(&h.pipe(&Mail::new("gil@globex.com", "Q", "x").build()).await);
    assert!(outbox(&h).await.contains(&("new_ticket_alert".into(), "bob@example.com".into())));
    // No org, no manager: every active agent.
    created(&h.pipe(&Mail::new("someone@example.org", "Q", "x").build()).await);
    let alerts: Vec<_> =
        outbox(&h).await.into_iter().filter(|(t, _)| t == "new_ticket_alert").map(|(_, r)| r).collect();
    assert_eq!(alerts, ["bob@example.com", "alice@example.com", "bob@example.com"]);
}

async fn alerts_reach_the_assignee_and_its_team_once_and_pass_over_an_inactive_assignee(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&Mail::new("jane@example.org", "Q", "x").id("<a1@example.org>").build()).await);
    let mut n = 0;
    let mut alerts_of_a_reply = async |setup: &'static str| {
        h.write(move |tx| tx.execute(setup, &[])).await;
        let before = outbox(&h).await.len();
        n += 1;
        let reply = Mail::new("jane@example.org", "Re: Q", "more").id(&format!("<a1-{n}@example.org>"));
        added(&h.pipe(&reply.in_reply_to("<a1@example.org>").build()).await);
        let mails = outbox(&h).await.split_off(before);
        mails.into_iter().filter(|(t, _)| t == "new_message_alert").map(|(_, r)| r).collect::<Vec<_>>()
    };
    let bob_and_billing = "UPDATE tickets SET assignee_agent_id = (SELECT id FROM agents WHERE key = 'bob'),
                           assignee_team_id = (SELECT id FROM teams WHERE key = 'billing')";
    assert_eq!(
        alerts_of_a_reply(bob_and_billing).await,
        ["bob@example.com"],
        "bob is the agent and in the team"
    );
    let alice_and_billing =
        "UPDATE tickets SET assignee_agent_id = (SELECT id FROM agents WHERE key = 'alice')";
    assert_eq!(alerts_of_a_reply(alice_and_billing).await, ["alice@example.com", "bob@example.com"]);
    let inactive_alice = "UPDATE agents SET active = 0 WHERE key = 'alice'";
    let alert_bob = "UPDATE tickets SET assignee_team_id = NULL, alert_agent_id = (SELECT id FROM agents WHERE key = 'bob')";
    h.write(move |tx| tx.execute(inactive_alice, &[])).await;
    assert_eq!(
        alerts_of_a_reply(alert_bob).await,
        ["bob@example.com"],
        "the manager, past an inactive assignee"
    );
}

async fn automatic_and_list_mail_is_never_answered(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let list = Mail::new("poster@lists.example.org", "[announce] news", "x")
        .header("List-Id: <announce.lists.example.org>");
    let report = h.pipe(&list.build()).await;
    created(&report);
    let mails = outbox(&h).await;
    assert!(mails.iter().all(|(t, _)| t == "new_ticket_alert"), "{mails:?}");
    assert!(report.trace.to_string().contains("never answer automatic or list mail"), "{}", report.trace);

    created(&h.pipe(&Mail::new("jane@example.org", "Q", "x").id("<q@example.org>").build()).await);
    let before = outbox(&h).await.len();
    let ooo = Mail::new("jane@example.org", "Out of office", "away")
        .in_reply_to("<q@example.org>")
        .header("Auto-Submitted: auto-replied");
    added(&h.pipe(&ooo.build()).await);
    assert_eq!(outbox(&h).await.len(), before, "an auto-reply causes no mail at all");
}

async fn governor_caps_automatic_mail_per_address(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let mut governed = 0;
    for i in 0..12 {
        let report = h.pipe(&Mail::new("flood@example.org", &format!("ticket {i}"), "x").build()).await;
        created(&report);
        governed += usize::from(report.trace.to_string().contains("governed"));
    }
    let answers = h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE recipient = 'flood@example.org'").await;
    assert_eq!(answers, 10, "max_automatic_per_address_per_hour");
    assert_eq!(governed, 2);
    // An hour later the window has moved on.
    h.clock.advance_ms(3_600_001);
    created(&h.pipe(&Mail::new("flood@example.org", "later", "x").build()).await);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE recipient = 'flood@example.org'").await, 11);
}

async fn replies_to_our_mail_thread_by_its_message_id(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = created(&h.pipe(&Mail::new("jane@example.org", "Q", "x").build()).await);
    let ours =
        h.strings("SELECT message_id FROM outbox WHERE template = $1", "new_ticket_auto_response").await;
    // The customer answers our auto-response; their client quotes only our Message-ID.
    let reply =
        Mail::new("jane@example.org", "Re: something else", "thanks").in_reply_to(&format!("<{}>", ours[0]));
    assert_eq!(added(&h.pipe(&reply.build()).await).0, ticket);
}

async fn bounce_of_our_mail_alerts_the_assignee(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = created(&h.pipe(&Mail::new("ann@acme.com", "Q", "x").build()).await);
    let ours =
        h.strings("SELECT message_id FROM outbox WHERE template = $1", "new_ticket_auto_response").await;
    let bounce = format!(
        "From: MAILER-DAEMON@mx.acme.com\r\nTo: support@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <b1@mx.acme.com>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nFailed.\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.com\r\n\r\n\
Final-Recipient: rfc822; ann@acme.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{}>\r\nSubject: [#1] Q\r\n\r\n--B--\r\n",
        ours[0]
    );
    let report = h.pipe(&bounce).await;
    assert_eq!(added(&report).0, ticket, "{}", report.trace);
    assert!(
        outbox(&h).await.contains(&("bounce_alert".into(), "alice@example.com".into())),
        "{}",
        report.trace
    );
}

async fn over_limit_mail_is_quarantined_and_its_sender_told(backend: Backend) {
    let Some(h) = Harness::with_config(backend, "[limits]\nmax_message_bytes = 4096\n").await else { return };
    let big = "x".repeat(100);
    let body = vec![big.as_str(); 60].join("\n");
    let report = h
        .pipe(&Mail::new("Jane Roe <jane@example.org>", "Logs", &body).id("<big@example.org>").build())
        .await;
    assert!(matches!(report.outcome, Outcome::Quarantined { .. }), "{:?}", report.outcome);
    assert_eq!(outbox(&h).await, rows(&[("rejection_notice", "jane@example.org")]));
    let context = h.strings("SELECT context FROM outbox", "").await.remove(0);
    assert!(context.contains("we accept messages up to 4 KB"), "{context}");
    assert!(context.contains("<big@example.org>") || context.contains("big@example.org"), "{context}");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound WHERE outcome = 'quarantined'").await, 1);

    // An auto-responder's oversized mail, and a machine sender's, are refused without a word.
    let ooo = Mail::new("jane@example.org", "Out of office", &body).header("Auto-Submitted: auto-replied");
    h.pipe(&ooo.build()).await;
    h.pipe(&Mail::new("noreply@example.org", "Report", &body).build()).await;
    assert_eq!(outbox(&h).await.len(), 1);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound WHERE outcome = 'quarantined'").await, 3);
}
