//! The web endpoint over real HTTP (a loopback socket): one-click ticket pages behind signed view
//! links, and what happens to tampered, wrong-purpose, expired and revoked links; headers on every
//! response. Both backends.

mod common;

use std::net::SocketAddr;

use common::{Backend, Harness, Mail, added, created};
use mailgate::auth::token::{Claims, Participant, Purpose};
use mailgate::core::ids::{AgentId, TicketId, UserId};
use mailgate::store::links as link_store;

on_both_backends!(
    a_view_link_shows_the_ticket_to_its_participant,
    bad_links_say_not_found_and_old_links_say_expired,
    every_response_carries_the_security_headers,
    the_access_page_answers_alike_and_mails_only_participants,
    the_access_page_is_rate_limited,
    a_reply_on_the_page_is_stored_as_the_readers_mail,
    the_owner_can_resolve_and_nobody_else,
    an_expired_link_offers_a_fresh_one_by_mail,
    customers_read_changes_in_plain_words_with_times,
);

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

use common::http::{Client, Page, form_tag, post_multipart, request_raw as request, serve};

/// A plain HTTP/1.1 GET over a fresh connection.
async fn get(address: SocketAddr, path: &str) -> Page {
    request(address, &format!("GET {path} HTTP/1.1\r\nHost: help.example.com\r\nConnection: close\r\n\r\n"))
        .await
}

/// A form POST (urlencoded `form`).
async fn post(address: SocketAddr, path: &str, form: &str) -> Page {
    request(
        address,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: help.example.com\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
    .await
}

/// The endpoint reads the harness's fixed clock (through its ingestor).
fn now_ms() -> i64 {
    common::T0
}

fn link(
    h: &Harness,
    purpose: Purpose,
    ticket: TicketId,
    participant: Participant,
    expires_at_ms: i64,
    epoch: u64,
) -> String {
    let claims = Claims { purpose, ticket, participant, expires_at_ms, epoch };
    format!("/t/{}", h.app.settings().keyring.link(&claims))
}

async fn user(h: &Harness, email: &'static str) -> Participant {
    Participant::User(UserId(
        h.read(move |tx| {
            tx.query_one("SELECT id FROM users WHERE email = $1", mailgate::params![email], |r| r.i64(0))
        })
        .await,
    ))
}

/// Ann's ticket with a response, an internal note, and the owner and alice as participants.
async fn ticket_with_thread(h: &Harness) -> (TicketId, String) {
    let first = Mail::new(
        "Ann <ann@acme.com>",
        "Printer <b>on fire</b>",
        "It is on fire.\n<script>window.x=1</script>",
    )
    .id("<ann-1@acme.com>");
    let (ticket, number) = created(&h.pipe(&first.build()).await);
    let alice = AgentId(
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await,
    );
    for (purpose, text) in
        [(Purpose::Reply, "A technician is on his way."), (Purpose::Note, "Fuser is known to fail.")]
    {
        let claims = Claims {
            purpose,
            ticket,
            participant: Participant::Agent(alice),
            expires_at_ms: common::T0 + DAY_MS,
            epoch: 0,
        };
        let mut mail = Mail::new("alice@example.com", "Re: Printer", text);
        mail.to = format!("support+{}@example.com", h.app.settings().keyring.address_token(&claims));
        added(&h.pipe(&mail.build()).await);
    }
    (ticket, number)
}

async fn a_view_link_shows_the_ticket_to_its_participant(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) = ticket_with_thread(&h).await;
    let address = serve(&h).await;
    let ann = user(&h, "ann@acme.com").await;

    let page = get(address, &link(&h, Purpose::View, ticket, ann, now_ms() + DAY_MS, 0)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("#{number}")), "{}", page.body);
    assert!(
        page.body.contains("It is on fire.") && page.body.contains("A technician is on his way."),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Fuser"), "customers never see internal notes");
    assert!(
        page.body.contains("Printer &lt;b&gt;on fire&lt;&#x2F;b&gt;")
            || page.body.contains("Printer &lt;b&gt;on fire"),
        "escaped subject:\n{}",
        page.body
    );
    assert!(!page.body.contains("<script>"), "the customer's text is escaped");

    let alice = AgentId(
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await,
    );
    let agent_page =
        get(address, &link(&h, Purpose::View, ticket, Participant::Agent(alice), now_ms() + DAY_MS, 0)).await;
    assert_eq!(agent_page.status, 200);
    assert!(agent_page.body.contains("Fuser is known to fail.") && agent_page.body.contains("internal note"));

    // A GET changes nothing: the same page twice, no new rows anywhere.
    let entries = h.scalar_i64("SELECT COUNT(*) FROM entries").await;
    get(address, &link(&h, Purpose::View, ticket, ann, now_ms() + DAY_MS, 0)).await;
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM entries").await, entries);
}

/// The customer's page says what changed in plain words, with when each line was written; agents
/// keep their own lines; priorities and internal moves are not the customer's business.
async fn customers_read_changes_in_plain_words_with_times(backend: Backend) {
    use mailgate::core::command::Priority;
    use mailgate::core::ticket::Status;
    use mailgate::workflow::ConsoleAction;
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) = ticket_with_thread(&h).await;
    let number: mailgate::core::ticket::TicketNumber = number.parse().unwrap();
    for action in [
        ConsoleAction::Priority(Priority::High),
        ConsoleAction::Status(Status::Pending),
        ConsoleAction::Assign("billing".into()),
        ConsoleAction::Status(Status::Closed),
    ] {
        h.workflows.console_change(&number, action).await.unwrap();
    }
    let address = serve(&h).await;
    let ann = user(&h, "ann@acme.com").await;
    let page = get(address, &link(&h, Purpose::View, ticket, ann, now_ms() + DAY_MS, 0)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for line in ["Alice Agent is looking into this", "The Billing team is looking into this", "Closed"] {
        assert!(page.body.contains(line), "{line:?} on the customer's page:\n{}", page.body);
    }
    for internal in ["by rule", "account manager", "Priority", "pending", "by an admin"] {
        assert!(!page.body.contains(internal), "{internal:?} on the customer's page:\n{}", page.body);
    }
    assert!(page.body.contains("class=\"time\">2026-"), "each line says when:\n{}", page.body);

    let alice = AgentId(
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await,
    );
    let agents =
        get(address, &link(&h, Purpose::View, ticket, Participant::Agent(alice), now_ms() + DAY_MS, 0)).await;
    for line in
        ["Assigned to agent alice by rule", "Priority set to high by an admin", "Status open -&gt; pending"]
    {
        assert!(agents.body.contains(line), "{line:?} on the agents' page:\n{}", agents.body);
    }
}

async fn bad_links_say_not_found_and_old_links_say_expired(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = ticket_with_thread(&h).await;
    let address = serve(&h).await;
    let ann = user(&h, "ann@acme.com").await;
    let good = link(&h, Purpose::View, ticket, ann, now_ms() + DAY_MS, 0);

    let mut tampered = good.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (case, path) in [
        ("tampered", tampered),
        ("not a token", "/t/hello".to_string()),
        ("a reply token as link", link(&h, Purpose::Reply, ticket, ann, now_ms() + DAY_MS, 0)),
    ] {
        let page = get(address, &path).await;
        assert_eq!(page.status, 404, "{case}");
        assert!(page.body.contains("Nothing here"), "{case}: {}", page.body);
    }

    // Expiry is kept in whole hours (docs/tokens.md): two hours ago is past, whatever the rounding.
    let expired = get(address, &link(&h, Purpose::View, ticket, ann, now_ms() - 2 * 3_600_000, 0)).await;
    assert_eq!(expired.status, 410);
    assert!(expired.body.contains("This link has expired"), "{}", expired.body);

    h.write(move |tx| link_store::bump_epoch(tx, ticket, ann).map(drop)).await;
    assert_eq!(get(address, &good).await.status, 410, "revoked: the epoch moved on");
    assert_eq!(
        get(address, &link(&h, Purpose::View, ticket, ann, now_ms() + DAY_MS, 1)).await.status,
        200,
        "a fresh link works"
    );

    let stranger = Participant::User(UserId(9999));
    assert_eq!(
        get(address, &link(&h, Purpose::View, ticket, stranger, now_ms() + DAY_MS, 0)).await.status,
        410
    );
}

async fn every_response_carries_the_security_headers(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let address = serve(&h).await;
    let health = get(address, "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(health.body.starts_with(r#"{"status":"ok","database":"ok""#), "{}", health.body);
    let css = get(address, "/static/site.css").await;
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    for path in ["/healthz", "/static/site.css", "/t/nothing", "/nowhere"] {
        let page = get(address, path).await;
        let csp = page.header("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(page.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"), "{path}");
    }
    assert_eq!(get(address, "/nowhere").await.status, 404);
}

/// Waits for the access page's lookup (it runs after the answer) to settle.
async fn access_rows(h: &Harness, expected: i64) -> i64 {
    for _ in 0..100 {
        let rows = h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE template = 'access_link'").await;
        if rows >= expected {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE template = 'access_link'").await
}

async fn the_access_page_answers_alike_and_mails_only_participants(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, number) = ticket_with_thread(&h).await;
    let address = serve(&h).await;
    let form = get(address, "/access").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("<form method=\"post\" action=\"/access\""), "{}", form.body);

    let forged = post(address, "/access", &format!("number={number}&email=ann%40acme.com")).await;
    assert_eq!(forged.status, 403, "a POST without the form's CSRF token is refused");
    let mut client = Client::new(address);
    let mut answers = Vec::new();
    for form in [
        "number=000000&email=ann%40acme.com".to_string(),
        format!("number={number}&email=mallory%40evil.example"),
        format!("number={number}&email=alice%40example.com"),
        format!("number={number}&email=ANN%40acme.com"),
    ] {
        answers.push(client.submit("/access", "/access", &form).await);
    }
    for page in &answers {
        assert_eq!(
            (page.status, &page.body),
            (answers[0].status, &answers[0].body),
            "the same answer for any input"
        );
    }
    assert!(answers[0].body.contains("Check your mail"));
    // Only the last ask names Ann's ticket and Ann (in any letter case); the lookups run after the
    // answers, so wait for them to settle.
    assert_eq!(access_rows(&h, 1).await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let to = h.strings("SELECT recipient FROM outbox WHERE template = $1", "access_link").await;
    assert_eq!(to, ["ann@acme.com"], "a wrong number, a stranger or an agent get nothing");

    // An access link opens the ticket like a view link.
    let ann = user(&h, "ann@acme.com").await;
    let page = get(address, &link(&h, Purpose::Access, ticket, ann, now_ms() + 3_600_000, 0)).await;
    assert_eq!(page.status, 200, "{}", page.body);
}

async fn the_access_page_is_rate_limited(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let address = serve(&h).await;
    let mut statuses = Vec::new();
    let mut client = Client::new(address);
    for n in 0..4 {
        let form = format!("number={n}&email=same%40example.org");
        statuses.push(client.submit("/access", "/access", &form).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "three asks per address, then wait");
    let mut statuses = Vec::new();
    for n in 0..6 {
        let form = format!("number=1&email=n{n}%40example.org");
        statuses.push(client.submit("/access", "/access", &form).await.status);
    }
    assert_eq!(statuses.last(), Some(&429), "one client, many addresses: limited too ({statuses:?})");
    let limited = client.submit("/access", "/access", "number=1&email=x%40example.org").await;
    assert!(
        limited.body.contains("Too many requests") && limited.header("content-security-policy").is_some()
    );
}

async fn a_reply_on_the_page_is_stored_as_the_readers_mail(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = ticket_with_thread(&h).await;
    let address = serve(&h).await;
    let ann = user(&h, "ann@acme.com").await;
    let path = link(&h, Purpose::View, ticket, ann, now_ms() + DAY_MS, 0);
    let page = get(address, &path).await;
    let tag = form_tag(&page);
    let entries = h.scalar_i64("SELECT COUNT(*) FROM entries").await;

    let forged =
        post_multipart(address, &path, &[("form_tag", "AAAAAAAAAAAAAAAAAAAAAA"), ("text", "x")], None).await;
    assert_eq!(forged.status, 400, "a POST without the page's tag is refused");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM entries").await, entries);

    let alerts = h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE template = 'new_message_alert'").await;
    let sent = post_multipart(
        address,
        &path,
        &[("form_tag", &tag), ("text", "It smokes again.")],
        Some(("smoke.txt", "ppm 300")),
    )
    .await;
    assert_eq!(sent.status, 303);
    assert_eq!(sent.header("location"), Some(path.as_str()));
    let (kind, author, text) = h
        .read(|tx| {
            tx.query_one(
                "SELECT e.kind, u.email, COALESCE(e.stripped_text, e.body_text) FROM entries e JOIN users u ON u.id = e.author_user_id
                  ORDER BY e.id DESC LIMIT 1",
                &[],
                |r| Ok((r.string(0)?, r.string(1)?, r.string(2)?)),
            )
        })
        .await;
    assert_eq!(
        (kind.as_str(), author.as_str(), text.trim()),
        ("message", "ann@acme.com", "It smokes again.")
    );
    assert_eq!(
        h.strings("SELECT filename FROM attachments ORDER BY id DESC LIMIT 1", "").await,
        ["smoke.txt"]
    );
    assert_eq!(
        h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE template = 'new_message_alert'").await,
        alerts + 1,
        "the assignee is alerted"
    );
    let source = h.strings("SELECT source FROM inbound ORDER BY id DESC LIMIT 1", "").await;
    assert_eq!(source, ["web"]);
    let shown = get(address, &path).await;
    assert!(shown.body.contains("It smokes again.") && shown.body.contains("smoke.txt"));

    // The file downloads through the same link, as a download whatever it claims to be.
    let at = shown.body.find("/files/").expect("a file link");
    let file_path = format!("{path}{}", shown.body[at..].split('"').next().unwrap());
    let file = get(address, &file_path).await;
    assert_eq!((file.status, file.body.as_str()), (200, "ppm 300"));
    assert_eq!(file.header("content-type"), Some("application/octet-stream"));
    assert!(file.header("content-disposition").unwrap().starts_with("attachment; filename=\"smoke.txt\""));
    assert_eq!(get(address, &format!("{path}/files/999999")).await.status, 404, "not a file of this ticket");

    // Agents answer by mail: their page has no form, and a POST is refused.
    let alice = AgentId(
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await,
    );
    let agent_path = link(&h, Purpose::View, ticket, Participant::Agent(alice), now_ms() + DAY_MS, 0);
    assert!(!get(address, &agent_path).await.body.contains("form_tag"));
    assert_eq!(
        post_multipart(address, &agent_path, &[("form_tag", &tag), ("text", "x")], None).await.status,
        404
    );
}

async fn the_owner_can_resolve_and_nobody_else(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = ticket_with_thread(&h).await;
    let address = serve(&h).await;
    let boss = user(&h, "boss@acme.com").await;
    let boss_path = link(&h, Purpose::View, ticket, boss, now_ms() + DAY_MS, 0);
    let boss_page = get(address, &boss_path).await;
    assert!(!boss_page.body.contains("/resolve"), "a collaborator sees no resolve button");
    let refused = post_multipart(
        address,
        &format!("{boss_path}/resolve"),
        &[("form_tag", &form_tag(&boss_page))],
        None,
    )
    .await;
    assert_eq!(refused.status, 404);

    let ann = user(&h, "ann@acme.com").await;
    let path = link(&h, Purpose::View, ticket, ann, now_ms() + DAY_MS, 0);
    let page = get(address, &path).await;
    assert!(page.body.contains("My problem is solved"));
    let done =
        post_multipart(address, &format!("{path}/resolve"), &[("form_tag", &form_tag(&page))], None).await;
    assert_eq!(done.status, 303);
    assert_eq!(h.strings("SELECT status FROM tickets", "").await, ["resolved"]);
    let last =
        h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id DESC LIMIT 1", "system").await;
    assert_eq!(last, ["Status open -> resolved by customer ann@acme.com"]);
    assert!(!get(address, &path).await.body.contains("My problem is solved"), "nothing left to resolve");
}

async fn an_expired_link_offers_a_fresh_one_by_mail(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ticket, _) = ticket_with_thread(&h).await;
    let address = serve(&h).await;
    let ann = user(&h, "ann@acme.com").await;
    let old = link(&h, Purpose::View, ticket, ann, now_ms() - 2 * 3_600_000, 0);
    let page = get(address, &old).await;
    assert_eq!(page.status, 410);
    assert!(page.body.contains("Mail me a fresh link"), "{}", page.body);
    let tag = form_tag(&page);

    assert_eq!(post(address, &format!("{old}/renew"), "form_tag=wrong").await.status, 400);
    assert_eq!(post(address, "/t/forged/renew", &format!("form_tag={tag}")).await.status, 404);
    let sent = post(address, &format!("{old}/renew"), &format!("form_tag={tag}")).await;
    assert_eq!(sent.status, 200);
    assert!(sent.body.contains("Check your mail"));
    assert_eq!(access_rows(&h, 1).await, 1);
    assert_eq!(
        h.strings("SELECT recipient FROM outbox WHERE template = $1", "access_link").await,
        ["ann@acme.com"]
    );

    // Asking again and again is limited like the access page.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(post(address, &format!("{old}/renew"), &format!("form_tag={tag}")).await.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}
