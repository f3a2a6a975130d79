//! Issue 13, the web endpoint under attack over real HTTP (both backends): replies too large as
//! mail (item 4), reply floods on one link (item 4), the anonymous new-ticket form aimed at someone
//! else's ticket (item 6), line breaks in names (item 7), resolving a closed ticket (item 9).

mod common;

use std::net::SocketAddr;

use common::http::{Client, Page, encode, form_tag, post_multipart, request_raw as request, serve};
use common::{Backend, Harness, Mail, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{TicketId, UserId};

on_both_backends!(
    a_reply_too_large_as_mail_is_refused_with_a_page,
    replies_on_one_link_are_rate_limited,
    the_anonymous_form_never_threads_into_a_ticket,
    a_name_with_line_breaks_breaks_nothing,
    a_closed_ticket_cannot_be_resolved_by_its_owner,
);

async fn get(address: SocketAddr, path: &str) -> Page {
    request(address, &format!("GET {path} HTTP/1.1\r\nHost: help.example.com\r\nConnection: close\r\n\r\n"))
        .await
}

/// Ann's ticket and the path of her view link.
async fn anns_ticket(h: &Harness) -> (TicketId, String, String) {
    let (ticket, number) =
        created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer on fire", "It burns.").build()).await);
    let user = h
        .read(|tx| tx.query_one("SELECT id FROM users WHERE email = 'ann@acme.com'", &[], |r| r.i64(0)))
        .await;
    let claims = Claims {
        purpose: Purpose::View,
        ticket,
        participant: Participant::User(UserId(user)),
        expires_at_ms: common::T0 + common::DAY_MS,
        epoch: 0,
    };
    (ticket, number, format!("/t/{}", h.app.settings().keyring.link(&claims)))
}

async fn a_reply_too_large_as_mail_is_refused_with_a_page(backend: Backend) {
    let Some(h) = Harness::with_config(backend, "[limits]\nmax_message_bytes = 300000\n").await else {
        return;
    };
    let (_, _, path) = anns_ticket(&h).await;
    let address = serve(&h).await;
    let tag = form_tag(&get(address, &path).await);
    let inbound = h.scalar_i64("SELECT COUNT(*) FROM inbound").await;

    // 250 KB on disk is about 340 KB in base64: under the limit as a file, over it as mail.
    let file = "0123456789".repeat(25_000);
    let refused = post_multipart(
        address,
        &path,
        &[("form_tag", &tag), ("text", "Logs attached.")],
        Some(("logs.txt", &file)),
    )
    .await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert!(refused.body.contains("too large") && refused.body.contains("not sent"), "{}", refused.body);
    assert_eq!(
        h.scalar_i64("SELECT COUNT(*) FROM inbound").await,
        inbound,
        "nothing stored, nothing quarantined"
    );

    // A body larger than the limit is refused before it is read.
    let huge = "x".repeat(310_000);
    let refused = post_multipart(address, &path, &[("form_tag", &tag)], Some(("big.txt", &huge))).await;
    assert_eq!(refused.status, 413);

    let fits = "0123456789".repeat(10_000);
    let sent =
        post_multipart(address, &path, &[("form_tag", &tag), ("text", "Logs.")], Some(("logs.txt", &fits)))
            .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(h.strings("SELECT filename FROM attachments", "").await, ["logs.txt"]);
}

async fn replies_on_one_link_are_rate_limited(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (_, _, path) = anns_ticket(&h).await;
    let address = serve(&h).await;
    let tag = form_tag(&get(address, &path).await);
    let mut statuses = Vec::new();
    for i in 0..7 {
        let text = format!("Reply {i}");
        statuses
            .push(post_multipart(address, &path, &[("form_tag", &tag), ("text", &text)], None).await.status);
    }
    assert_eq!(statuses, [303, 303, 303, 303, 303, 429, 429], "a burst of five on one link, then wait");
    let messages = h.scalar_i64("SELECT COUNT(*) FROM entries WHERE kind = 'message'").await;
    assert_eq!(messages, 6, "the first mail and five replies");
}

async fn the_anonymous_form_never_threads_into_a_ticket(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number, _) = anns_ticket(&h).await;
    h.workflows
        .console_change(
            &number.parse().unwrap(),
            mailgate::workflow::ConsoleAction::Status(mailgate::core::ticket::Status::Resolved),
        )
        .await
        .unwrap();
    let address = serve(&h).await;
    let mut client = Client::new(address);
    let form = format!(
        "email=ann%40acme.com&name=Ann&subject={}&message=Please+send+me+everything",
        encode(&format!("Re: [#{number}] Printer on fire"))
    );
    let page = client.submit("/tickets/new", "/tickets/new", &form).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let on_anns = h
        .read(move |tx| {
            tx.query_one(
                "SELECT COUNT(*) FROM entries WHERE ticket_id = $1 AND kind = 'message'",
                mailgate::params![ticket.0],
                |r| r.i64(0),
            )
        })
        .await;
    assert_eq!(on_anns, 1, "nothing was added to Ann's ticket");
    let statuses = h.strings("SELECT status FROM tickets ORDER BY id", "").await;
    assert_eq!(statuses, ["resolved", "open"], "Ann's ticket was not reopened; a new one was opened");
}

async fn a_name_with_line_breaks_breaks_nothing(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let address = serve(&h).await;
    let mut client = Client::new(address);
    let form = format!(
        "email=eve%40example.org&name={}&subject=Hello&message=Hi",
        encode("Eve\r\nBcc: everyone@example.org")
    );
    let page = client.submit("/tickets/new", "/tickets/new", &form).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        h.strings("SELECT name FROM users WHERE email = $1", "eve@example.org").await,
        ["Eve Bcc: everyone@example.org"]
    );

    // A name from an encoded header with line breaks in it is cleaned when the mail is parsed.
    let mail = Mail::new("=?utf-8?q?Mallory=0D=0AX-Evil=3A_1?= <mallory@example.org>", "Hi", "Hi").build();
    created(&h.pipe(&mail).await);
    assert_eq!(
        h.strings("SELECT name FROM users WHERE email = $1", "mallory@example.org").await,
        ["Mallory X-Evil: 1"]
    );
}

async fn a_closed_ticket_cannot_be_resolved_by_its_owner(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (_, number, path) = anns_ticket(&h).await;
    let address = serve(&h).await;
    let tag = form_tag(&get(address, &path).await);
    h.workflows
        .console_change(
            &number.parse().unwrap(),
            mailgate::workflow::ConsoleAction::Status(mailgate::core::ticket::Status::Closed),
        )
        .await
        .unwrap();
    let page = get(address, &path).await;
    assert!(!page.body.contains("/resolve"), "no resolve button on a closed ticket");
    let refused = post_multipart(address, &format!("{path}/resolve"), &[("form_tag", &tag)], None).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(h.strings("SELECT status FROM tickets", "").await, ["closed"]);
}
