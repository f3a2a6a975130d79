//! Issue 13 item 13 through the whole ingest (both backends): with `[auth]` configured, mail whose
//! From names an organization's domain joins the organization (its primary contacts become
//! collaborators, its account manager is assigned or alerted) only when the trusted MTA
//! authenticated it. A spoofed message is still ticketed, alone, and the trace says why.

mod common;

use common::{Backend, Harness, Mail, created};

on_both_backends!(spoofed_org_mail_reaches_no_contact_and_no_manager);

const AUTH: &str = "[auth]\ntrusted_authserv_id = \"mx.example.com\"\n";

async fn spoofed_org_mail_reaches_no_contact_and_no_manager(backend: Backend) {
    let Some(h) = Harness::with_config(backend, AUTH).await else { return };
    // No verdict at all, and a verdict from someone else's server: both unauthenticated.
    for (i, header) in [None, Some("Authentication-Results: evil.example; dmarc=pass header.from=acme.com")]
        .into_iter()
        .enumerate()
    {
        let mut mail = Mail::new("Boss <ceo@acme.com>", &format!("Wire the money {i}"), "Urgent.");
        if let Some(header) = header {
            mail = mail.header(header);
        }
        let report = h.pipe(&mail.build()).await;
        let (ticket, _) = created(&report);
        let trace = report.trace.to_string();
        assert!(trace.contains("not authenticated") && trace.contains("not joined"), "{trace}");
        let people = h
            .read(move |tx| {
                tx.query_all(
                    "SELECT u.email FROM participants p JOIN users u ON u.id = p.user_id WHERE p.ticket_id = $1",
                    mailgate::params![ticket.0],
                    |r| r.string(0),
                )
            })
            .await;
        assert_eq!(people, ["ceo@acme.com"], "no primary contact added");
        let (org, assignee) = h
            .read(move |tx| {
                tx.query_one(
                    "SELECT org_id, assignee_agent_id FROM tickets WHERE id = $1",
                    mailgate::params![ticket.0],
                    |r| Ok((r.opt_i64(0)?, r.opt_i64(1)?)),
                )
            })
            .await;
        assert_eq!((org, assignee), (None, None), "no organization, no account manager");
    }
    let joined =
        h.scalar_i64("SELECT COUNT(*) FROM users WHERE org_id IS NOT NULL AND email = 'ceo@acme.com'").await;
    assert_eq!(joined, 0, "the sender did not join the organization");
    let to_boss = h.strings("SELECT template FROM outbox WHERE recipient = $1", "boss@acme.com").await;
    assert!(to_boss.is_empty(), "{to_boss:?}");

    // Authenticated by the trusted MTA: the organization's policy applies.
    let mail = Mail::new("Ann <ann@acme.com>", "Printer", "It burns.")
        .header("Authentication-Results: mx.example.com; spf=pass; dmarc=pass header.from=acme.com");
    let report = h.pipe(&mail.build()).await;
    let (ticket, _) = created(&report);
    let people = h
        .read(move |tx| {
            tx.query_all(
                "SELECT u.email FROM participants p JOIN users u ON u.id = p.user_id WHERE p.ticket_id = $1 ORDER BY u.email",
                mailgate::params![ticket.0],
                |r| r.string(0),
            )
        })
        .await;
    assert_eq!(people, ["ann@acme.com", "boss@acme.com"], "{}", report.trace);
}
