//! Threading, organizations, classification routing and dedupe, end to end through the ingest
//! workflow on a fresh database; every test runs on SQLite and, with MAILGATE_TEST_PG, on PostgreSQL.

mod common;

use common::{Backend, DAY_MS, Harness, Mail, added, created};
use mailgate::core::address::MessageId;
use mailgate::core::ticket::Status;
use mailgate::ingest::Outcome;
use mailgate::store::tickets as ticket_store;

on_both_backends!(
    reply_by_in_reply_to,
    reply_by_references_only,
    subject_tag_from_participant,
    subject_tag_from_stranger_opens_new_ticket,
    reply_prefix_chains,
    closed_ticket_reopens_within_window,
    closed_ticket_after_window_opens_linked_ticket,
    same_message_twice_is_stored_once,
    same_bytes_without_message_id_stored_once,
    org_by_domain_and_subdomain,
    free_mail_never_matches_an_org,
    primary_contacts_and_manager_assign,
    manager_alert_only_records_target,
    cc_recipients_become_collaborators,
    auto_reply_threads_without_changing_the_ticket,
    auto_reply_to_nothing_is_quarantined,
    bounce_of_our_mail_lands_on_its_ticket,
    own_mail_coming_back_is_a_loop,
    attachments_are_stored_once,
    quoted_history_is_stripped_and_kept,
    html_only_reply_is_stripped_at_its_quote_container,
    explain_writes_nothing,
    garbage_is_quarantined_and_replayable,
    customer_reply_reopens_pending_ticket,
    an_exchange_out_of_office_without_rfc_3834_headers_is_never_answered,
    an_abuse_report_is_kept_for_an_admin_not_a_ticket,
    undeliverable_recipients_never_become_collaborators_and_are_traced,
    a_blank_first_line_does_not_lose_the_sender,
);

async fn reply_by_in_reply_to(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let first = h
        .pipe(
            &Mail::new("Jane <jane@example.org>", "Printer on fire", "Help!").id("<q1@client.test>").build(),
        )
        .await;
    let (ticket, number) = created(&first);
    let reply = h
        .pipe(
            &Mail::new("jane@example.org", "Re: Printer on fire", "Still burning")
                .in_reply_to("<q1@client.test>")
                .build(),
        )
        .await;
    assert_eq!(added(&reply), (ticket, number));
    assert!(reply.trace.to_string().contains("In-Reply-To <q1@client.test>"), "{}", reply.trace);
}

async fn reply_by_references_only(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = created(
        &h.pipe(&Mail::new("jane@example.org", "Invoice", "Where?").id("<r1@client.test>").build()).await,
    );
    let reply = h
        .pipe(
            &Mail::new("jane@example.org", "Re: Invoice", "Again")
                .references("<unknown@elsewhere.test> <r1@client.test> <also-unknown@x.test>")
                .build(),
        )
        .await;
    assert_eq!(added(&reply).0, ticket);
    assert!(reply.trace.to_string().contains("References <r1@client.test>"), "{}", reply.trace);
}

async fn subject_tag_from_participant(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) =
        created(&h.pipe(&Mail::new("jane@example.org", "VPN down", "No VPN").build()).await);
    let reply = h
        .pipe(&Mail::new("jane@example.org", &format!("Re: [#{number}] VPN down"), "still down").build())
        .await;
    assert_eq!(added(&reply).0, ticket);
    assert!(reply.trace.to_string().contains("subject tag"), "{}", reply.trace);
}

async fn subject_tag_from_stranger_opens_new_ticket(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) =
        created(&h.pipe(&Mail::new("jane@example.org", "VPN down", "No VPN").build()).await);
    let stranger = h
        .pipe(&Mail::new("mallory@evil.test", &format!("Re: [#{number}] VPN down"), "let me in").build())
        .await;
    let (other, _) = created(&stranger);
    assert_ne!(other, ticket);
    assert!(stranger.trace.to_string().contains("takes no part"), "{}", stranger.trace);
}

async fn reply_prefix_chains(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) =
        created(&h.pipe(&Mail::new("jane@example.org", "RE: AW: Fwd: Printer", "x").build()).await);
    assert_eq!(summary(&h, &number).await.subject, "Printer");
    let reply = h
        .pipe(&Mail::new("jane@example.org", &format!("RE: AW: WG: Fwd: [#{number}] Printer"), "y").build())
        .await;
    assert_eq!(added(&reply).0, ticket);
}

async fn close(h: &Harness, ticket: mailgate::core::ids::TicketId) {
    let now = h.clock_now();
    h.write(move |tx| ticket_store::update_ticket_activity(tx, ticket, Status::Closed, now)).await;
}

async fn summary(h: &Harness, number: &str) -> ticket_store::TicketSummary {
    let number = number.to_string();
    h.read(move |tx| ticket_store::find_ticket_summary(tx, &number.parse().unwrap()))
        .await
        .expect("ticket exists")
}

trait Now {
    fn clock_now(&self) -> i64;
}
impl Now for Harness {
    fn clock_now(&self) -> i64 {
        use mailgate::clock::Clock;
        self.clock.now_ms()
    }
}

async fn status_of(h: &Harness, number: &str) -> String {
    summary(h, number).await.status.to_string()
}

async fn closed_ticket_reopens_within_window(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) =
        created(&h.pipe(&Mail::new("jane@example.org", "Disk", "full").id("<d1@client.test>").build()).await);
    close(&h, ticket).await;
    h.clock.advance_ms(13 * DAY_MS);
    let reply = h
        .pipe(
            &Mail::new("jane@example.org", "Re: Disk", "full again").in_reply_to("<d1@client.test>").build(),
        )
        .await;
    assert_eq!(added(&reply).0, ticket);
    assert_eq!(status_of(&h, &number).await, "open");
    assert!(reply.trace.to_string().contains("reopened"), "{}", reply.trace);
}

async fn closed_ticket_after_window_opens_linked_ticket(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) =
        created(&h.pipe(&Mail::new("jane@example.org", "Disk", "full").id("<d2@client.test>").build()).await);
    close(&h, ticket).await;
    h.clock.advance_ms(15 * DAY_MS);
    let reply = h
        .pipe(
            &Mail::new("jane@example.org", "Re: Disk", "full again").in_reply_to("<d2@client.test>").build(),
        )
        .await;
    let (new_ticket, new_number) = created(&reply);
    assert_ne!(new_ticket, ticket);
    assert_eq!(status_of(&h, &number).await, "closed");
    assert_eq!(summary(&h, &new_number).await.linked_number.map(|n| n.to_string()), Some(number));
}

async fn same_message_twice_is_stored_once(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let raw = Mail::new("jane@example.org", "Twice", "once please").id("<twice@client.test>").build();
    created(&h.pipe(&raw).await);
    let again = h.pipe(&raw).await;
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound").await, 1);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM entries WHERE kind = 'message'").await, 1);
}

async fn same_bytes_without_message_id_stored_once(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let raw = Mail::new("jane@example.org", "No id", "no message-id here").no_id().build();
    created(&h.pipe(&raw).await);
    assert_eq!(h.pipe(&raw).await.outcome, Outcome::Duplicate);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 1);
}

async fn org_of(h: &Harness, email: &str) -> Vec<String> {
    h.strings("SELECT o.key FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.email = $1", email).await
}

async fn org_by_domain_and_subdomain(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&Mail::new("ann@acme.com", "a", "b").build()).await);
    created(&h.pipe(&Mail::new("Carl <carl@eu.sales.acme.com>", "c", "d").build()).await);
    created(&h.pipe(&Mail::new("dan@notacme.com", "e", "f").build()).await);
    assert_eq!(org_of(&h, "ann@acme.com").await, ["acme"]);
    assert_eq!(org_of(&h, "carl@eu.sales.acme.com").await, ["acme"]);
    assert!(org_of(&h, "dan@notacme.com").await.is_empty());
}

async fn free_mail_never_matches_an_org(backend: Backend) {
    let extra = "\n[[orgs]]\nkey = \"freebie\"\nname = \"Free\"\ndomains = [\"freebie.test\"]\n";
    let Some(h) = Harness::with_config(backend, extra).await else { return };
    let report = h.pipe(&Mail::new("someone@gmail.com", "hi", "x").build()).await;
    created(&report);
    assert!(org_of(&h, "someone@gmail.com").await.is_empty());
    assert!(report.trace.to_string().contains("free-mail"), "{}", report.trace);
}

async fn participants(h: &Harness, number: &str) -> Vec<(String, String)> {
    let t = summary(h, number).await;
    let mut all: Vec<_> = h
        .read(move |tx| ticket_store::list_participants(tx, t.id))
        .await
        .into_iter()
        .map(|p| (p.email, p.role.to_string()))
        .collect();
    all.sort();
    all
}

async fn primary_contacts_and_manager_assign(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let report = h.pipe(&Mail::new("ann@acme.com", "Broken", "x").build()).await;
    let (_, number) = created(&report);
    assert_eq!(
        participants(&h, &number).await,
        [("ann@acme.com".into(), "owner".into()), ("boss@acme.com".into(), "primary_contact".into())]
    );
    let t = summary(&h, &number).await;
    assert_eq!(t.assignee.as_deref(), Some("alice"));
    let entries = h.read(move |tx| ticket_store::list_entries(tx, t.id)).await;
    assert!(
        entries
            .iter()
            .any(|e| e.kind.as_str() == "system" && e.body_text.contains("Assigned to agent alice"))
    );
    // The primary contact writing about the ticket is recognised as a participant.
    let boss = h.pipe(&Mail::new("boss@acme.com", &format!("[#{number}] status?"), "x").build()).await;
    assert_eq!(added(&boss).1, number);
}

async fn manager_alert_only_records_target(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let report = h.pipe(&Mail::new("gil@globex.com", "Question", "x").build()).await;
    let (ticket, number) = created(&report);
    assert_eq!(summary(&h, &number).await.assignee, None);
    let alert = h
        .read(move |tx| {
            tx.query_one("SELECT alert_team_id FROM tickets WHERE id = $1", &[ticket.0.into()], |r| {
                r.opt_i64(0)
            })
        })
        .await;
    assert!(alert.is_some());
    assert!(
        report.trace.to_string().contains("Account manager team billing to be alerted"),
        "{}",
        report.trace
    );
}

async fn cc_recipients_become_collaborators(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let mail = Mail::new("jane@example.org", "Team issue", "x")
        .cc("Tom <tom@example.org>, support+abc@example.com, alice@example.com, noreply@example.org");
    let (_, number) = created(&h.pipe(&mail.build()).await);
    assert_eq!(
        participants(&h, &number).await,
        [("jane@example.org".into(), "owner".into()), ("tom@example.org".into(), "cc".into())]
    );
}

async fn auto_reply_threads_without_changing_the_ticket(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) =
        created(&h.pipe(&Mail::new("jane@example.org", "Q", "x").id("<ar1@client.test>").build()).await);
    close(&h, ticket).await;
    let ooo = Mail::new("jane@example.org", "Out of Office: Re: Q", "I am away")
        .in_reply_to("<ar1@client.test>")
        .header("Auto-Submitted: auto-replied");
    let report = h.pipe(&ooo.build()).await;
    assert_eq!(added(&report).0, ticket);
    assert_eq!(status_of(&h, &number).await, "closed", "an auto-reply never reopens");
    let classes = h.strings("SELECT class FROM entries WHERE kind = 'message' ORDER BY id", "").await;
    assert_eq!(classes, ["normal", "auto-reply"]);
}

async fn auto_reply_to_nothing_is_quarantined(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let report = h
        .pipe(
            &Mail::new("jane@example.org", "Automatic reply: hello", "away")
                .header("Auto-Submitted: auto-replied")
                .build(),
        )
        .await;
    assert!(matches!(report.outcome, Outcome::Quarantined { .. }), "{:?}", report.outcome);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 0);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound WHERE outcome = 'quarantined'").await, 1);
}

async fn bounce_of_our_mail_lands_on_its_ticket(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = created(&h.pipe(&Mail::new("jane@example.org", "Q", "x").build()).await);
    // A mail we sent on that ticket (the outbox records this in the outgoing-mail issue).
    let ours = MessageId::parse("<out-1@mg.mailgate.test>").unwrap();
    h.write(move |tx| ticket_store::insert_message_id(tx, &ours, ticket, None, ticket_store::Direction::Out))
        .await;

    let bounce = "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n\
To: support@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <bounce-1@mx.example.org>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
Final-Recipient: rfc822; jane@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@example.com\r\nTo: jane@example.org\r\n\
Subject: [#000000] Q\r\nMessage-ID: <out-1@mg.mailgate.test>\r\n\r\n--B--\r\n";
    let report = h.pipe(bounce).await;
    assert_eq!(added(&report).0, ticket, "{}", report.trace);
    let notes = h.strings("SELECT body_text FROM entries WHERE kind = 'system'", "").await;
    assert!(notes.iter().any(|n| n.contains("jane@example.org")), "{notes:?}");
}

async fn own_mail_coming_back_is_a_loop(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let ours = Mail::new("support@example.com", "[#123456] Re: Q", "our reply")
        .header("X-Mailgate-Loop: mg.mailgate.test");
    let report = h.pipe(&ours.build()).await;
    assert_eq!(report.outcome, Outcome::Loop);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 0);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound WHERE outcome = 'loop'").await, 1);
}

fn with_attachment(from: &str, id: &str) -> String {
    format!(
        "From: {from}\r\nTo: support@example.com\r\nSubject: logs\r\nMessage-ID: {id}\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nSee log.\r\n\
--X\r\nContent-Type: text/plain; name=\"app.log\"\r\nContent-Disposition: attachment; filename=\"app.log\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nRVJST1I6IGRpc2sgZnVsbAo=\r\n--X--\r\n"
    )
}

async fn attachments_are_stored_once(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&with_attachment("jane@example.org", "<att1@client.test>")).await);
    created(&h.pipe(&with_attachment("tom@example.org", "<att2@client.test>")).await);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM attachments").await, 2);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM blobs").await, 1);
    assert_eq!(h.strings("SELECT filename FROM attachments WHERE filename = $1", "app.log").await.len(), 2);
}

async fn quoted_history_is_stripped_and_kept(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&Mail::new("jane@example.org", "Q", "first").id("<qs1@client.test>").build()).await);
    let body = "Thanks, that worked.\n\nOn Mon, 23 Nov 2026 at 10:00, Support <support@example.com> wrote:\n> first\n> more\n";
    h.pipe(&Mail::new("jane@example.org", "Re: Q", body).in_reply_to("<qs1@client.test>").build()).await;
    let stripped = h
        .strings(
            "SELECT COALESCE(stripped_text, body_text) FROM entries WHERE kind = 'message' ORDER BY id DESC",
            "",
        )
        .await;
    assert_eq!(stripped[0].trim(), "Thanks, that worked.");
    let full = h.strings("SELECT body_text FROM entries WHERE kind = 'message' ORDER BY id DESC", "").await;
    assert!(full[0].contains("> more"));
}

async fn html_only_reply_is_stripped_at_its_quote_container(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&Mail::new("jane@example.org", "Q", "first").id("<html1@client.test>").build()).await);
    let reply = "From: jane@example.org\r\nTo: support@example.com\r\nSubject: Re: Q\r\n\
In-Reply-To: <html1@client.test>\r\nMessage-ID: <html2@client.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<div dir=\"ltr\">Fixed, thank you!</div><br>\
<div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon, Nov 23, 2026 Support wrote:</div>\
<blockquote class=\"gmail_quote\">first</blockquote></div>\r\n";
    added(&h.pipe(reply).await);
    let stripped = h
        .strings(
            "SELECT COALESCE(stripped_text, body_text) FROM entries WHERE kind = 'message' ORDER BY id DESC",
            "",
        )
        .await;
    assert_eq!(stripped[0].trim(), "Fixed, thank you!");
    let full = h.strings("SELECT body_text FROM entries WHERE kind = 'message' ORDER BY id DESC", "").await;
    assert!(full[0].contains("first"), "the full text keeps the quote: {:?}", full[0]);
}

async fn explain_writes_nothing(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let raw = Mail::new("ann@acme.com", "Dry run", "x").build();
    let report = h
        .ingestor
        .explain(raw.as_bytes(), &mailgate::ingest::Delivery::new(mailgate::store::inbound::Source::Console))
        .await
        .unwrap();
    assert!(matches!(report.outcome, Outcome::Created { .. }));
    let text = report.trace.to_string();
    for stage in ["dedupe", "parse", "classify", "thread", "identify", "org"] {
        assert!(text.contains(stage), "trace lacks {stage}:\n{text}");
    }
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound").await, 0);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 0);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM users WHERE email = 'ann@acme.com'").await, 0);
}

async fn garbage_is_quarantined_and_replayable(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let report = h
        .ingestor
        .ingest(&garbage, &mailgate::ingest::Delivery::new(mailgate::store::inbound::Source::Pipe))
        .await
        .unwrap();
    let Outcome::Quarantined { reason } = &report.outcome else { panic!("{:?}", report.outcome) };
    assert!(!reason.is_empty());
    let replayed = h.ingestor.replay(report.inbound).await.unwrap();
    assert!(matches!(replayed.outcome, Outcome::Quarantined { .. }));
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound").await, 1, "replay updates the row in place");
}

async fn customer_reply_reopens_pending_ticket(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) =
        created(&h.pipe(&Mail::new("jane@example.org", "Q", "x").id("<p1@client.test>").build()).await);
    h.write(move |tx| ticket_store::update_ticket_activity(tx, ticket, Status::Pending, common::T0)).await;
    h.pipe(&Mail::new("jane@example.org", "Re: Q", "answer").in_reply_to("<p1@client.test>").build()).await;
    assert_eq!(status_of(&h, &number).await, "open");
    let notes = h.strings("SELECT body_text FROM entries WHERE kind = 'system'", "").await;
    assert!(notes.iter().any(|n| n.contains("pending -> open")), "{notes:?}");
}

/// Exchange writes no `Auto-Submitted`: its out-of-office note is known by its localised subject
/// and headers. It is stored on the ticket it answers, changes nothing and causes no mail.
async fn an_exchange_out_of_office_without_rfc_3834_headers_is_never_answered(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) = created(
        &h.pipe(&Mail::new("jane@example.org", "Drucker", "x").id("<oof1@client.test>").build()).await,
    );
    let ours =
        h.strings("SELECT message_id FROM outbox WHERE template = $1", "new_ticket_auto_response").await;
    let before = h.scalar_i64("SELECT COUNT(*) FROM outbox").await;
    let oof =
        Mail::new("Jane <jane@example.org>", "Automatische Antwort: [#1] Drucker", "Ich bin nicht im Büro.")
            .in_reply_to(&format!("<{}>", ours[0]))
            .header("X-Auto-Response-Suppress: All")
            .header("X-MS-Exchange-Inbox-Rules-Loop: jane@example.org");
    let report = h.pipe(&oof.build()).await;
    assert_eq!(added(&report).0, ticket);
    assert!(report.trace.to_string().contains("auto-reply subject"), "{}", report.trace);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM outbox").await, before, "an auto-reply is never answered");
    assert_eq!(status_of(&h, &number).await, "open");
    // Not threaded to anything: kept for an admin, never a ticket.
    let stray = Mail::new("Jim <jim@example.org>", "Réponse automatique : Bonjour", "Je suis absent.")
        .header("X-Auto-Response-Suppress: All");
    let report = h.pipe(&stray.build()).await;
    assert!(matches!(report.outcome, Outcome::Quarantined { .. }), "{}", report.trace);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 1);
}

async fn an_abuse_report_is_kept_for_an_admin_not_a_ticket(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let arf = "From: abuse@isp.example\r\nTo: support@example.com\r\nSubject: abuse report\r\n\
Message-ID: <arf-1@isp.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n\
--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\
--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\
--F\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@example.com\r\n--F--\r\n";
    let report = h.pipe(arf).await;
    let trace = report.trace.to_string();
    assert!(trace.contains("abuse-report"), "{trace}");
    assert!(matches!(report.outcome, Outcome::Quarantined { .. }), "{trace}");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 0);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM outbox").await, 0);
}

async fn undeliverable_recipients_never_become_collaborators_and_are_traced(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let mut raw = Mail::new("jane@example.org", "Team issue", "x")
        .cc("Tom <tom@example.org>, <@relay.example:rob@example.org>, <@example.org>, J\u{f6}rg <j\u{f6}rg@example.org>")
        .build();
    raw = raw.replacen(
        "To: Support <support@example.com>",
        "To: support@example.com, Undisclosed-Recipients:;",
        1,
    );
    let report = h.pipe(&raw).await;
    let (_, number) = created(&report);
    assert_eq!(
        participants(&h, &number).await,
        [("jane@example.org".into(), "owner".into()), ("tom@example.org".into(), "cc".into())]
    );
    let trace = report.trace.to_string();
    for refused in [
        "Undisclosed-Recipients:;",
        "<@relay.example:rob@example.org>",
        "<@example.org>",
        "j\u{f6}rg@example.org",
    ] {
        assert!(trace.lines().any(|l| l.contains("skipped") && l.contains(refused)), "{refused}:\n{trace}");
    }
    let recipients = h.strings("SELECT recipient FROM outbox ORDER BY id", "").await;
    assert!(recipients.iter().all(|r| r.is_ascii() && !r.contains(':')), "{recipients:?}");
    assert!(recipients.contains(&"tom@example.org".to_string()), "{recipients:?}");
}

async fn a_blank_first_line_does_not_lose_the_sender(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let raw = format!("\r\n{}", Mail::new("jane@example.org", "Printer", "on fire").build());
    let report = h.pipe(&raw).await;
    created(&report);
    let raw = format!("  \t\n{}", Mail::new("jim@example.org", "Scanner", "broken").build());
    created(&h.pipe(&raw).await);
}
