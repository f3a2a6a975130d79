//! Customers' self-service over real HTTP on both backends: a temporary password an agent sets
//! (the user must choose their own before any other page), the reset link mailed from the record,
//! the profile (only user-editable fields change, whatever is posted), the password change
//! (throttled like sign-in, also in parallel), hostile input and CSRF; and `mailgate user
//! set-password --temporary` from the command line.

mod common;

use common::http::{Client, Page, agent_console, encode};
use common::{Backend, Harness, Mail};

on_both_backends!(
    an_agent_sets_a_temporary_password_the_user_must_replace,
    locked_users_and_weak_passwords_get_no_temporary_password,
    guests_get_a_temporary_password_where_accounts_exist,
    the_profile_changes_only_what_the_user_may,
    a_password_change_is_throttled_like_sign_in,
    a_password_change_ends_the_other_sessions,
);

const GOOD: &str = "correct horse battery";
const TEMPORARY: &str = "lilac umbrella seventeen";

const USER_FORM: &str = r#"
[[forms]]
key = "customer"
applies_to = "user"
fields = [
  { key = "nick", label = "Nickname", type = "text", editable_by = "user" },
  { key = "newsletter", label = "Newsletter", type = "bool", editable_by = "user" },
  { key = "tier", label = "Support tier", type = "choice", choices = ["basic", "gold"] },
  { key = "notes", label = "Internal notes", type = "text", visible_to_user = false },
]
"#;

/// The newest `link` mailed with `template` to `to`, as a path.
async fn mailed_link(h: &Harness, template: &'static str, to: &str) -> String {
    let to = to.to_string();
    let context = h
        .read(move |tx| {
            tx.query_one(
                "SELECT context FROM outbox WHERE template = $1 AND recipient = $2 ORDER BY id DESC LIMIT 1",
                mailgate::params![template, to.as_str()],
                |r| r.string(0),
            )
        })
        .await;
    let json: serde_json::Value = serde_json::from_str(&context).unwrap();
    let link = json["link"].as_str().unwrap().to_string();
    link.split_once("://").unwrap().1.split_once('/').map(|(_, path)| format!("/{path}")).unwrap()
}

/// Ann signs up on the portal and confirms from the mail: a signed-in client, and her id.
async fn ann(h: &Harness, address: std::net::SocketAddr) -> (Client, i64) {
    let mut client = Client::new(address);
    let answer = client.submit("/register", "/register", "name=Ann&email=ann%40acme.com").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let link = mailed_link(h, "account_confirm", "ann@acme.com").await;
    let confirmed = client.submit(&link, &link, &format!("password={}", encode(GOOD))).await;
    assert_eq!(confirmed.location(), "/tickets", "{}", confirmed.body);
    let id = h.scalar_i64("SELECT id FROM users WHERE email = 'ann@acme.com'").await;
    (client, id)
}

async fn sign_in(address: std::net::SocketAddr, password: &str) -> (Client, Page) {
    let mut client = Client::new(address);
    let form = format!("email=ann%40acme.com&password={}", encode(password));
    let page = client.submit("/login", "/login", &form).await;
    (client, page)
}

async fn audit(h: &Harness) -> Vec<String> {
    h.strings("SELECT actor || ': ' || action || ': ' || detail FROM audit_log ORDER BY id", "").await
}

async fn an_agent_sets_a_temporary_password_the_user_must_replace(backend: Backend) {
    let Some((h, mut agent)) = agent_console(backend, "").await else { return };
    let (mut before, ann) = ann(&h, agent.address).await;
    let record = format!("/agent/users/{ann}");
    let action = format!("{record}/temporary-password");

    let set = agent.submit(&record, &action, &format!("password={}", encode(TEMPORARY))).await;
    assert_eq!((set.status, set.location()), (303, format!("{record}?done=temporary").as_str()));
    let shown = agent.get(set.location()).await.body;
    assert!(shown.contains("temporary password is set"), "{shown}");
    assert!(
        shown.contains("<dt>Password</dt><dd>temporary: they choose their own at the next sign-in</dd>"),
        "the record says so:\n{shown}"
    );
    assert_eq!(before.get("/tickets").await.location(), "/login", "her sessions ended");
    let trail = audit(&h).await;
    assert_eq!(trail, ["agent alice: temporary password: "], "the actor, never the password");
    let hash = h.strings("SELECT password_hash FROM users WHERE email = $1", "ann@acme.com").await;
    assert!(hash[0].starts_with("$argon2id$") && !hash[0].contains(TEMPORARY));

    // Her old password is gone; the temporary one leads only to choosing her own.
    assert_eq!(sign_in(agent.address, GOOD).await.1.status, 401);
    let (mut client, signed) = sign_in(agent.address, TEMPORARY).await;
    assert_eq!(signed.location(), "/account/password");
    for path in ["/tickets", "/tickets/new", "/account", "/"] {
        assert_eq!(client.get(path).await.location(), "/account/password", "{path} waits");
    }
    let forced = client.get("/account/password").await;
    assert!(forced.body.contains("temporary password") && !forced.body.contains("name=\"current\""));
    let again = client
        .submit("/account/password", "/account/password", &format!("password={}", encode(TEMPORARY)))
        .await;
    assert_eq!(again.status, 400, "not the temporary one again");
    assert!(again.body.contains("not the temporary one"), "{}", again.body);
    let weak = client.submit("/account/password", "/account/password", "password=password123").await;
    assert_eq!(weak.status, 400);
    let mine = "seventh orchard lantern";
    let chosen =
        client.submit("/account/password", "/account/password", &format!("password={}", encode(mine))).await;
    assert_eq!(chosen.location(), "/tickets");
    assert_eq!(client.get("/tickets").await.status, 200, "a complete session now");
    assert_eq!(sign_in(agent.address, TEMPORARY).await.1.status, 401, "the temporary one is spent");
    assert_eq!(sign_in(agent.address, mine).await.1.location(), "/tickets", "no second change asked");
    assert_eq!(h.scalar_i64("SELECT password_temporary FROM users WHERE email = 'ann@acme.com'").await, 0);
    assert!(agent.get(&record).await.body.contains("<dt>Password</dt><dd>set</dd>"), "her own now");

    // The record's reset link: mailed, with an audit row naming the agent.
    let reset = agent.submit(&record, &format!("{record}/reset"), "").await;
    assert_eq!(reset.location(), format!("{record}?done=reset"));
    assert!(audit(&h).await.contains(&"agent alice: reset link: ".to_string()));
    assert!(mailed_link(&h, "password_reset", "ann@acme.com").await.starts_with("/reset/"));
}

async fn locked_users_and_weak_passwords_get_no_temporary_password(backend: Backend) {
    let Some((h, mut agent)) = agent_console(backend, "").await else { return };
    let (_, ann) = ann(&h, agent.address).await;
    let record = format!("/agent/users/{ann}");
    let action = format!("{record}/temporary-password");
    let hash = || h.strings("SELECT password_hash FROM users WHERE email = $1", "ann@acme.com");
    let stored = hash().await;

    for weak in ["short", "password123", "ann@acme.com!!", &"x".repeat(2000)] {
        let refused = agent.submit(&record, &action, &format!("password={}", encode(weak))).await;
        assert_eq!(refused.location(), format!("{record}?error=temporary_weak"), "{weak:.20}");
    }
    let page = agent.get(&format!("{record}?error=temporary_weak")).await;
    assert!(page.body.contains("No temporary password was set"));
    // Hostile input: line breaks and markup are just characters of a password; no CSRF, no set.
    let forged = agent.post(&action, &format!("password={}", encode(TEMPORARY))).await;
    assert_eq!(forged.status, 403);
    let huge = agent.post(&action, &format!("password={}&csrf=x", "a".repeat(1024 * 1024))).await;
    assert_eq!(huge.status, 413, "a megabyte is not a password form");
    assert_eq!(hash().await, stored, "nothing changed");

    let locked = agent.submit(&record, &format!("{record}/lock"), "reason=spam").await;
    assert_eq!(locked.status, 303);
    assert!(!agent.get(&record).await.body.contains("temporary-password"), "no form for a locked user");
    let refused = agent.submit(&record, &action, &format!("password={}", encode(TEMPORARY))).await;
    assert_eq!(refused.location(), format!("{record}?error=temporary"));
    assert_eq!(hash().await, stored);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'temporary password'").await, 0);
}

async fn guests_get_a_temporary_password_where_accounts_exist(backend: Backend) {
    for (method, allowed) in [("public", true), ("private", true), ("disabled", false)] {
        let extra = format!("[registration]\nmethod = \"{method}\"\n");
        let Some((h, mut agent)) = agent_console(backend, &extra).await else { return };
        common::created(&h.pipe(&Mail::new("Gus <gus@guest.example>", "Help", "It broke.").build()).await);
        let gus = h.scalar_i64("SELECT id FROM users WHERE email = 'gus@guest.example'").await;
        let record = format!("/agent/users/{gus}");
        let set = agent
            .submit(
                &record,
                &format!("{record}/temporary-password"),
                &format!("password={}", encode(TEMPORARY)),
            )
            .await;
        let status = h.strings("SELECT status FROM users WHERE email = $1", "gus@guest.example").await;
        if !allowed {
            assert_eq!(set.location(), format!("{record}?error=temporary"), "{method}");
            assert_eq!(status, ["guest"], "{method}");
            continue;
        }
        assert_eq!(set.location(), format!("{record}?done=temporary"), "{method}");
        assert_eq!(status, ["registered"], "{method}: a guest becomes registered");
        let mut client = Client::new(agent.address);
        let form = format!("email=gus%40guest.example&password={}", encode(TEMPORARY));
        let signed = client.submit("/login", "/login", &form).await;
        assert_eq!(signed.location(), "/account/password", "{method}");
    }
}

async fn the_profile_changes_only_what_the_user_may(backend: Backend) {
    let Some((h, agent)) = agent_console(backend, USER_FORM).await else { return };
    let (mut client, ann) = ann(&h, agent.address).await;
    h.write(move |tx| {
        tx.execute(
            "UPDATE users SET custom = $1 WHERE id = $2",
            mailgate::params![r#"{"tier":"gold","notes":"pays late"}"#, ann],
        )
        .map(|_| ())
    })
    .await;
    let page = client.get("/account").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Support tier") && page.body.contains("gold"), "shown, not editable");
    assert!(!page.body.contains("pays late") && !page.body.contains("Internal notes"), "hidden");
    assert!(page.body.contains("name=\"field.nick\"") && !page.body.contains("name=\"field.tier\""));
    assert!(client.get("/tickets").await.body.contains("href=\"/account\""), "linked from the nav");

    // Forged fields (an agent's, a hidden one, an unknown one) change nothing; the rest is saved.
    let form = "name=Ann%0D%0ABcc%3A+eve%40evil.example+%3Cb%3Ex%3C%2Fb%3E&phone=%2B1+555+0100\
                &field.nick=Annie&field.newsletter=yes&field.tier=basic&field.notes=forged&field.admin=1";
    let saved = client.submit("/account", "/account", form).await;
    assert_eq!(saved.location(), "/account?done=profile");
    let row = h
        .read(move |tx| {
            tx.query_one("SELECT name, phone, custom FROM users WHERE id = $1", mailgate::params![ann], |r| {
                Ok((r.string(0)?, r.string(1)?, r.string(2)?))
            })
        })
        .await;
    assert_eq!((row.0.as_str(), row.1.as_str()), ("Ann Bcc: eve@evil.example <b>x</b>", "+1 555 0100"));
    let custom: serde_json::Value = serde_json::from_str(&row.2).unwrap();
    assert_eq!(
        custom,
        serde_json::json!({"tier": "gold", "notes": "pays late", "nick": "Annie", "newsletter": true})
    );
    let shown = client.get("/account?done=profile").await;
    assert!(shown.body.contains("&lt;b&gt;x&lt;&#x2F;b&gt;") || shown.body.contains("&lt;b&gt;x&lt;/b&gt;"));
    assert!(!shown.body.contains("<b>x</b>"), "markup is escaped");
    assert!(audit(&h).await.iter().any(|row| row.starts_with("the user: profile: name, phone")));

    // Refused values come back with the reason, nothing saved.
    let bad =
        client.submit("/account", "/account", "name=Ann&phone=call+me%0D%0Alater&field.nick=Annie").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not a phone number"), "{}", bad.body);
    let two_lines = client.submit("/account", "/account", "name=Ann&field.nick=a%0Ab").await;
    assert_eq!(two_lines.status, 400);
    assert!(two_lines.body.contains("Nickname (nick): must be one line"));
    let control = client.submit("/account", "/account", "name=A%00n%07n&phone=").await;
    assert_eq!(control.location(), "/account?done=profile");
    assert_eq!(h.strings("SELECT name FROM users WHERE email = $1", "ann@acme.com").await, ["A n n"]);
    // Unchanged: said so, nothing written.
    let same = client.submit("/account", "/account", "name=A+n+n&phone=").await;
    assert_eq!(same.location(), "/account?done=nothing");

    // CSRF, size, and no session.
    assert_eq!(client.post("/account", "name=Mallory").await.status, 403);
    let huge = format!("name={}&csrf=x", "a".repeat(1024 * 1024));
    assert_eq!(client.post("/account", &huge).await.status, 413);
    assert_eq!(Client::new(agent.address).get("/account").await.location(), "/login");
    assert_eq!(Client::new(agent.address).post("/account", "name=x").await.location(), "/login");
}

async fn a_password_change_is_throttled_like_sign_in(backend: Backend) {
    let Some((h, agent)) = agent_console(backend, "").await else { return };
    let (client, _) = ann(&h, agent.address).await;
    let csrf = client.clone_jar().get("/account/password").await.csrf();
    // Twenty wrong guesses at once: at most five are judged (auth.max_failed_logins), as at
    // sign-in; the rest are refused without argon2.
    let form = |current: &str| {
        format!("current={}&password=brand+new+passphrase&csrf={}", encode(current), encode(&csrf))
    };
    let attempts = (0..20).map(|i| {
        let mut guesser = client.clone_jar();
        let form = form(&format!("guess number {i}"));
        async move { guesser.post("/account/password", &form).await.status }
    });
    let statuses = futures::future::join_all(attempts).await;
    let judged = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!(judged <= 5 && judged + throttled == 20, "{statuses:?}");
    // The counter is the sign-in's: the right password now waits too, here and at /login.
    let right = client.clone_jar().post("/account/password", &form(GOOD)).await;
    assert_eq!(right.status, 429, "{}", right.body);
    assert_eq!(sign_in(agent.address, GOOD).await.1.status, 429);
    assert_eq!(h.scalar_i64("SELECT password_temporary FROM users WHERE email = 'ann@acme.com'").await, 0);
    // After the lockout, the right password changes it.
    h.clock.advance_ms(16 * 60 * 1000);
    let changed = client.clone_jar().post("/account/password", &form(GOOD)).await;
    assert_eq!(changed.location(), "/account?done=password");
}

async fn a_password_change_ends_the_other_sessions(backend: Backend) {
    let Some((h, agent)) = agent_console(backend, "").await else { return };
    let (mut client, _) = ann(&h, agent.address).await;
    let (mut other, _) = sign_in(agent.address, GOOD).await;
    assert_eq!(other.get("/tickets").await.status, 200);

    let wrong = client
        .submit(
            "/account/password",
            "/account/password",
            "current=nope+nope+nope&password=brand+new+passphrase",
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("current password is wrong"));
    let weak = client
        .submit("/account/password", "/account/password", &format!("current={}&password=ann", encode(GOOD)))
        .await;
    assert_eq!(weak.status, 400);
    let form = format!("current={}&password=brand+new+passphrase%0D%0A%3Cscript%3E", encode(GOOD));
    let changed = client.submit("/account/password", "/account/password", &form).await;
    assert_eq!(changed.location(), "/account?done=password");
    assert!(client.get("/account?done=password").await.body.contains("password was changed"));
    assert_eq!(other.get("/tickets").await.location(), "/login", "the other session ended");
    assert_eq!(sign_in(agent.address, GOOD).await.1.status, 401);
    let (_, page) = sign_in(agent.address, "brand new passphrase\r\n<script>").await;
    assert_eq!(page.location(), "/tickets", "line breaks and markup are characters of a password");
    assert_eq!(client.post("/account/password", "current=x&password=y").await.status, 403, "CSRF");
}

/// `mailgate user set-password`, one process per command.
mod command_line {
    use super::common::{self, Backend};

    crate::on_both_backends_blocking!(the_command_line_sets_a_temporary_password);

    fn the_command_line_sets_a_temporary_password(backend: Backend) {
        let Some(site) = common::site::Site::new(backend, "") else { return };
        let add = site.run(&["user", "add", "ann@acme.com", "--name", "Ann"], b"");
        assert_eq!(common::site::code(&add), 0, "{}", common::site::text(&add));
        let set =
            site.run(&["user", "set-password", "ann@acme.com", "--temporary"], b"lilac umbrella seventeen\n");
        assert_eq!(common::site::code(&set), 0, "{}", common::site::text(&set));
        assert!(common::site::stdout(&set).contains("choose their own at the next sign-in"));
        assert_eq!(site.scalar("SELECT password_temporary FROM users WHERE email = 'ann@acme.com'"), 1);
        assert_eq!(site.strings("SELECT status FROM users"), ["registered"]);
        assert_eq!(
            site.strings("SELECT actor || ' ' || action FROM audit_log WHERE action <> 'add'"),
            ["an admin temporary password"]
        );
        let by_id = site.run(&["user", "set-password", "1", "--temporary"], b"short\n");
        assert_eq!(common::site::code(&by_id), 65, "too short: {}", common::site::text(&by_id));
        let none = site
            .run(&["user", "set-password", "nobody@acme.com", "--temporary"], b"lilac umbrella seventeen\n");
        assert_eq!(common::site::code(&none), 66);
        let empty = site.run(&["user", "set-password", "ann@acme.com", "--temporary"], b"");
        assert_eq!(common::site::code(&empty), 65, "no password on stdin");
        let not_temporary =
            site.run(&["user", "set-password", "ann@acme.com"], b"lilac umbrella seventeen\n");
        assert_ne!(common::site::code(&not_temporary), 0, "an admin sets only temporary passwords");
        let lock = site.run(&["user", "lock", "ann@acme.com"], b"");
        assert_eq!(common::site::code(&lock), 0);
        let locked =
            site.run(&["user", "set-password", "ann@acme.com", "--temporary"], b"another long passphrase\n");
        assert_eq!(common::site::code(&locked), 65, "{}", common::site::text(&locked));
        assert!(common::site::text(&locked).contains("locked"));
    }
}
