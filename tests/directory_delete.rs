//! Deleting users (their tickets deleted, or kept with the owner anonymized), the sign-in lockout
//! on the record and its clearing (by an agent, by a completed password reset), and search over
//! custom data. Both backends, through the workflows; the console's and the command line's forms
//! of the same actions are in `directory_console.rs` and `directory_cli.rs`.

mod common;

use common::{Backend, Harness, Mail, created};
use mailgate::core::ids::UserId;
use mailgate::store::search::{self as search_store, Filter};
use mailgate::workflow::{Deletion, TicketsChoice};

on_both_backends!(
    deleting_with_tickets_erases_them_and_everything_personal,
    anonymizing_keeps_the_tickets_and_erases_the_person,
    deletion_is_refused_for_primary_contacts_and_tombstones,
    a_completed_reset_and_an_agent_clear_the_lockout,
    the_directory_search_matches_custom_data,
    additional_addresses_are_the_users_until_they_are_deleted,
);

async fn user_id(h: &Harness, email: &'static str) -> UserId {
    UserId(
        h.read(move |tx| {
            tx.query_one("SELECT id FROM users WHERE email = $1", mailgate::params![email], |r| r.i64(0))
        })
        .await,
    )
}

/// A mail from Ann with a small attachment.
fn with_attachment(from: &str, id: &str) -> String {
    format!(
        "From: {from}\r\nTo: support@example.com\r\nSubject: Printer jam\r\nMessage-ID: <{id}>\r\n\
         Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nThe printer jams.\r\n\
         --b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"log.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nYW5uYWJlbCdzIGxvZw==\r\n--b--\r\n"
    )
}

/// Ann's footprint: her own ticket (with a file), a message on Bob's ticket as a collaborator, a
/// session, a reset link, throttle rows and a queued mail; her id and Bob's ticket's number.
async fn ann_everywhere(h: &Harness) -> (UserId, String) {
    created(&h.pipe(&with_attachment("Annabel Quist <ann@acme.com>", "a1@acme.com")).await);
    let bob =
        Mail::new("Bob <bob@globex.com>", "Invoice", "Wrong total.").id("b1@globex.com").cc("ann@acme.com");
    let (_, bobs) = created(&h.pipe(&bob.build()).await);
    let reply = Mail::new("Annabel Quist <ann@acme.com>", "Re: Invoice", "Annabel here: it is 12.")
        .id("a2@acme.com")
        .in_reply_to("b1@globex.com");
    h.pipe(&reply.build()).await;
    let ann = user_id(h, "ann@acme.com").await;
    let (pair, account, client) = (
        format!("login:user:{}@192.0.2.7", ann.0),
        format!("login:user:{}", ann.0),
        format!("user:{}", ann.0),
    );
    h.write(move |tx| {
        tx.execute(
            "INSERT INTO sessions (id_hash, user_id, stage, csrf, created_at, seen_at) VALUES ('s1', $1, 'full', 'c', 0, 0)",
            mailgate::params![ann.0],
        )?;
        tx.execute(
            "INSERT INTO identities (issuer, subject, realm, user_id, email, created_at, seen_at)
             VALUES ('https://id.example', 'ann-sub', 'user', $1, 'ann@acme.com', 0, 0)",
            mailgate::params![ann.0],
        )?;
        for (key, failures) in [(account.as_str(), 3), (pair.as_str(), 6)] {
            tx.execute(
                "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, $2, 0, 0)",
                mailgate::params![key, failures],
            )?;
        }
        tx.execute(
            "INSERT INTO login_clients (account, client, last_success) VALUES ($1, '192.0.2.7', 0)",
            mailgate::params![client.as_str()],
        )?;
        tx.execute(
            "UPDATE users SET custom = '{\"plan\":\"gold\"}', phone = '+49 30 1234' WHERE id = $1",
            mailgate::params![ann.0],
        )?;
        tx.execute(
            "INSERT INTO account_tokens (token_hash, purpose, email, created_at, expires_at) VALUES ('t1', 'reset', 'ann@acme.com', 0, 9)",
            &[],
        )?;
        Ok(())
    })
    .await;
    (ann, bobs)
}

/// Whether the search finds `words` in any ticket.
async fn found(h: &Harness, words: &'static str) -> usize {
    h.read(move |tx| search_store::search(tx, words, &Filter::default(), 10)).await.len()
}

/// What of Ann no table may keep, whatever became of her tickets.
/// `authored`: the tickets her messages are on afterwards.
async fn assert_person_erased(h: &Harness, ann: UserId, authored: usize) {
    let label = format!("deleted user #{}", ann.0);
    let tombstone = h
        .read(move |tx| {
            tx.query_one(
                "SELECT email || '|' || name || '|' || custom || '|' || phone || '|' || status || '|' || COALESCE(CAST(org_id AS TEXT), '-') FROM users WHERE id = $1",
                mailgate::params![ann.0],
                |r| r.string(0),
            )
        })
        .await;
    assert_eq!(tombstone, format!("{label}||{{}}||disabled|-"));
    for (table, sql) in [
        ("users", "SELECT COUNT(*) FROM users WHERE email = 'ann@acme.com'"),
        ("sessions", "SELECT COUNT(*) FROM sessions WHERE id_hash = 's1'"),
        ("identities", "SELECT COUNT(*) FROM identities WHERE email = 'ann@acme.com'"),
        ("account_tokens", "SELECT COUNT(*) FROM account_tokens WHERE email = 'ann@acme.com'"),
        ("rate_limits", "SELECT COUNT(*) FROM rate_limits WHERE key LIKE 'login:user:%'"),
        ("login_clients", "SELECT COUNT(*) FROM login_clients"),
        ("outbox", "SELECT COUNT(*) FROM outbox WHERE recipient = 'ann@acme.com'"),
        ("inbound", "SELECT COUNT(*) FROM inbound WHERE size > 0 AND dedupe_key LIKE '%a2@acme.com%'"),
    ] {
        assert_eq!(h.scalar_i64(sql).await, 0, "{table} still holds Ann");
    }
    let participations = h
        .read(move |tx| {
            tx.query_one(
                "SELECT COUNT(*) FROM participants WHERE user_id = $1",
                mailgate::params![ann.0],
                |r| r.i64(0),
            )
        })
        .await;
    assert_eq!(participations, 0);
    assert_eq!(found(h, "Quist").await, 0, "her name is out of the search index");
    // Her message on Bob's ticket stays, written by the tombstone.
    let authors = h.strings("SELECT COALESCE(NULLIF(u.name, ''), u.email) FROM entries e JOIN users u ON u.id = e.author_user_id WHERE e.body_text LIKE '%it is 12%'", "").await;
    assert_eq!(authors, [label]);
    assert_eq!(found(h, "deleted").await, authored, "the tombstone is what the index names");
}

async fn deleting_with_tickets_erases_them_and_everything_personal(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ann, bobs) = ann_everywhere(&h).await;
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM blobs").await, 1);
    let done = h.workflows.delete_user(ann, TicketsChoice::Delete, "an admin", None).await.unwrap();
    assert_eq!(done, Deletion::Done { tickets: 1 });
    assert_eq!(h.strings("SELECT number FROM tickets", "").await, [bobs], "only Bob's ticket is left");
    for (what, sql) in [
        ("entries", "SELECT COUNT(*) FROM entries WHERE body_text LIKE '%printer jams%'"),
        ("attachments", "SELECT COUNT(*) FROM attachments"),
        ("blobs", "SELECT COUNT(*) FROM blobs"),
        ("raw mail", "SELECT COUNT(*) FROM inbound WHERE size > 0 AND dedupe_key LIKE '%a1@acme.com%'"),
        ("message ids", "SELECT COUNT(*) FROM message_ids WHERE message_id LIKE '%a1@acme.com%'"),
    ] {
        assert_eq!(h.scalar_i64(sql).await, 0, "{what} of her ticket remain");
    }
    assert_eq!(found(&h, "jams").await, 0);
    assert_person_erased(&h, ann, 1).await;
    let audit = h.strings("SELECT actor || ': ' || action || ': ' || detail FROM audit_log", "").await;
    assert_eq!(audit, [format!("an admin: delete: user #{} deleted (tickets: deleted, 1)", ann.0)]);
    let counts = h.scalar_i64("SELECT CAST(COALESCE(SUM(tickets), 0) AS BIGINT) FROM ticket_counts").await;
    assert_eq!(counts, 1, "the queue counts follow the deletion");

    // Mail from her address later is a new person.
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Hello again", "New me.").build()).await);
    let again = user_id(&h, "ann@acme.com").await;
    assert_ne!(again, ann, "a fresh user, not the tombstone");
}

async fn anonymizing_keeps_the_tickets_and_erases_the_person(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let (ann, _) = ann_everywhere(&h).await;
    let done = h.workflows.delete_user(ann, TicketsChoice::Anonymize, "agent alice", None).await.unwrap();
    assert_eq!(done, Deletion::Done { tickets: 1 });
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 2, "both tickets stay");
    let owner = h
        .read(move |tx| {
            tx.query_one("SELECT COUNT(*) FROM tickets WHERE user_id = $1", mailgate::params![ann.0], |r| {
                r.i64(0)
            })
        })
        .await;
    assert_eq!(owner, 1, "her ticket is owned by the tombstone");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM attachments").await, 1, "a kept ticket keeps its files");
    assert_eq!(
        h.scalar_i64("SELECT COUNT(*) FROM inbound WHERE size > 0 AND dedupe_key LIKE '%a1@acme.com%'").await,
        0,
        "the raw mail of a kept ticket is erased; the parsed entry stays"
    );
    assert_eq!(found(&h, "jams").await, 1, "the kept ticket is still found by its text");
    assert_person_erased(&h, ann, 2).await;
    let audit = h.strings("SELECT detail FROM audit_log WHERE action = 'delete'", "").await;
    assert_eq!(audit, [format!("user #{} deleted (tickets: anonymized, 1)", ann.0)]);
}

async fn deletion_is_refused_for_primary_contacts_and_tombstones(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let boss = user_id(&h, "boss@acme.com").await;
    let refused = h.workflows.delete_user(boss, TicketsChoice::Delete, "an admin", None).await.unwrap();
    assert_eq!(refused, Deletion::PrimaryContact(vec!["acme".to_string()]));
    created(&h.pipe(&Mail::new("Kim <kim@example.org>", "Hi", "Hello.").build()).await);
    let kim = user_id(&h, "kim@example.org").await;
    let first = h.workflows.delete_user(kim, TicketsChoice::Delete, "an admin", None).await.unwrap();
    assert_eq!(first, Deletion::Done { tickets: 1 });
    let again = h.workflows.delete_user(kim, TicketsChoice::Delete, "an admin", None).await.unwrap();
    assert_eq!(again, Deletion::AlreadyDeleted);
    assert_eq!(h.workflows.unlock_user(kim, "an admin").await.unwrap(), mailgate::workflow::Locking::Already);
    let fields = mailgate::workflow::UserFields { name: Some("Kim".into()), ..Default::default() };
    let edit = h.workflows.edit_user(kim, fields, "an admin").await.unwrap();
    assert!(
        matches!(edit, Err(mailgate::workflow::Refused::Invalid(ref why)) if why.contains("deleted")),
        "{edit:?}"
    );
    let nobody =
        h.workflows.delete_user(UserId(999_999), TicketsChoice::Delete, "an admin", None).await.unwrap();
    assert_eq!(nobody, Deletion::NoUser);
    // An agent cannot delete a user that has one of their own addresses.
    created(&h.pipe(&Mail::new("Alice <alice.private@example.net>", "Hi", "Me.").build()).await);
    let alice_user = h
        .workflows
        .add_user(
            &mailgate::core::address::EmailAddress::parse("bob.agent@example.com").unwrap(),
            Default::default(),
            "an admin",
        )
        .await
        .unwrap()
        .unwrap();
    let bob_agent =
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'bob'", &[], |r| r.i64(0))).await;
    let own = h
        .workflows
        .delete_user(
            alice_user,
            TicketsChoice::Delete,
            "agent bob",
            Some(mailgate::core::ids::AgentId(bob_agent)),
        )
        .await
        .unwrap();
    assert_eq!(own, Deletion::Themselves);
}

async fn a_completed_reset_and_an_agent_clear_the_lockout(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Hi", "Hello.").build()).await);
    let ann = user_id(&h, "ann@acme.com").await;
    let now = mailgate::clock::Clock::now_ms(&h.clock);
    let throttle = move |tx: &mut mailgate::store::Tx<'_>| {
        tx.execute(
            "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, 6, $2, $3)",
            mailgate::params![format!("login:user:{}@192.0.2.7", ann.0).as_str(), now, now + 900_000],
        )?;
        tx.execute(
            "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, 2, $2, 0)",
            mailgate::params![format!("login:user:{}0@192.0.2.7", ann.0).as_str(), now],
        )?;
        Ok(())
    };
    h.write(throttle).await;
    let state = h.read(move |tx| mailgate::store::users::lockout(tx, ann, now - 3_600_000, now)).await;
    assert_eq!(state.failures, 6, "another user's counter (id {}0) is not hers", ann.0);
    assert_eq!(state.until_at, Some(now + 900_000));

    assert_eq!(h.workflows.clear_lockout(ann, "agent alice").await.unwrap(), Some(true));
    let state = h.read(move |tx| mailgate::store::users::lockout(tx, ann, now - 3_600_000, now)).await;
    assert_eq!((state.failures, state.until_at), (0, None));
    assert_eq!(h.workflows.clear_lockout(ann, "agent alice").await.unwrap(), Some(false));
    assert_eq!(
        h.strings("SELECT actor || ' ' || action FROM audit_log", "").await,
        ["agent alice clear lockout"]
    );
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM rate_limits").await, 1, "the other user's row stays");

    // A completed password reset clears it too.
    h.write(move |tx| {
        tx.execute(
            "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, 6, $2, $3)",
            mailgate::params![format!("login:user:{}", ann.0).as_str(), now, now + 900_000],
        )?;
        tx.execute("UPDATE users SET status = 'registered', password_hash = 'x' WHERE id = $1", mailgate::params![ann.0])?;
        tx.execute(
            "INSERT INTO account_tokens (token_hash, purpose, email, created_at, expires_at) VALUES ($1, 'reset', 'ann@acme.com', $2, $3)",
            mailgate::params![mailgate::auth::secret::token_hash("reset-token-1").as_str(), now, now + 600_000],
        )?;
        Ok(())
    })
    .await;
    let accounts = mailgate::accounts::Accounts::new(&h.config, h.app.clone());
    let reset = accounts
        .set_password_by_link(
            "reset-token-1",
            mailgate::store::accounts::TokenPurpose::Reset,
            "quiet harbour lanterns",
        )
        .await
        .unwrap();
    assert_eq!(reset, Some(ann));
    let state = h.read(move |tx| mailgate::store::users::lockout(tx, ann, now - 3_600_000, now)).await;
    assert_eq!((state.failures, state.until_at), (0, None), "the reset cleared the lockout");
}

async fn the_directory_search_matches_custom_data(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Hi", "Hello.").build()).await);
    created(&h.pipe(&Mail::new("Bob <bob@globex.com>", "Hi", "Hello.").build()).await);
    h.write(|tx| {
        tx.execute(
            "UPDATE users SET custom = '{\"plan\":\"Enterprise\",\"ports\":[\"wan\",\"lan\"]}' WHERE email = 'ann@acme.com'",
            &[],
        )?;
        Ok(())
    })
    .await;
    let h = &h;
    let search = |words: &'static str| async move {
        let users = h
            .read(move |tx| {
                mailgate::store::users::search_users(tx, words, mailgate::store::users::UserSort::Email, 10)
            })
            .await;
        users.into_iter().map(|u| u.email).collect::<Vec<_>>()
    };
    assert_eq!(search("enterprise").await, ["ann@acme.com"], "a custom value, any case");
    assert_eq!(search("lan").await, ["ann@acme.com"], "an item of a list");
    assert!(search("plan").await.is_empty(), "keys are not values");
    assert_eq!(search("").await.len(), 3, "everyone (boss@acme.com too)");
}

async fn additional_addresses_are_the_users_until_they_are_deleted(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Hi", "Hello.").build()).await);
    created(&h.pipe(&Mail::new("Bob <bob@globex.com>", "Hi", "Hello.").build()).await);
    let ann = user_id(&h, "ann@acme.com").await;
    let also = |emails: &[&str]| mailgate::workflow::UserFields {
        emails: Some(emails.iter().map(|e| e.to_string()).collect()),
        ..Default::default()
    };
    let edit = h.workflows.edit_user(ann, also(&["Ann.Home@Example.net", "ann@acme.com"]), "an admin").await;
    assert_eq!(edit.unwrap(), Ok(vec!["additional addresses".to_string()]), "her own address is left out");
    assert_eq!(h.strings("SELECT email FROM user_emails", "").await, ["ann.home@example.net"]);
    let taken = h.workflows.edit_user(ann, also(&["bob@globex.com"]), "an admin").await.unwrap();
    assert_eq!(
        taken,
        Err(mailgate::workflow::Refused::Invalid(
            "bob@globex.com is already the address of another user".into()
        ))
    );
    let bad = h.workflows.edit_user(ann, also(&["not an address"]), "an admin").await.unwrap();
    assert!(matches!(bad, Err(mailgate::workflow::Refused::Invalid(_))), "{bad:?}");
    let home = mailgate::core::address::EmailAddress::parse("ann.home@example.net").unwrap();
    let exists = h.workflows.add_user(&home, Default::default(), "an admin").await.unwrap();
    assert!(matches!(exists, Err(mailgate::workflow::Refused::Exists(_))), "{exists:?}");

    // Mail from the additional address is hers.
    created(&h.pipe(&Mail::new("Ann at home <ann.home@example.net>", "From home", "Hi.").build()).await);
    let owners = h
        .strings(
            "SELECT u.email FROM tickets t JOIN users u ON u.id = t.user_id WHERE t.subject = $1",
            "From home",
        )
        .await;
    assert_eq!(owners, ["ann@acme.com"]);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM users WHERE email = 'ann.home@example.net'").await, 0);

    // Deleted, the address is nobody's: new mail from it is a new person.
    let done = h.workflows.delete_user(ann, TicketsChoice::Delete, "an admin", None).await.unwrap();
    assert_eq!(done, Deletion::Done { tickets: 2 });
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM user_emails").await, 0);
    created(&h.pipe(&Mail::new("Ann <ann.home@example.net>", "Again", "Hi.").build()).await);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM users WHERE email = 'ann.home@example.net'").await, 1);
}
