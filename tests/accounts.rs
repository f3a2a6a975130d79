//! Accounts over real HTTP and a real database: the six registration modes (portal and mail),
//! passwords (rehash, throttling, uniform answers), sign-up, reset and invitation links (single
//! use, expiry on a fixed clock), agents' TOTP, and CSRF on every form. Both backends.

mod common;

use std::sync::Arc;

use common::http::{Client, encode, serve};
use common::{Backend, Harness, Mail};
use mailgate::accounts::{Accounts, Realm, SignIn};
use mailgate::auth::password::{Argon2Params, PasswordPolicy};
use mailgate::auth::totp;
use mailgate::ingest::Outcome;

on_both_backends!(
    each_registration_mode_governs_the_portal_and_mail,
    sign_up_is_confirmed_by_the_mailed_link_once,
    a_reset_link_works_once_and_expires,
    sign_in_is_throttled_and_answers_alike_for_unknown_accounts,
    an_outdated_hash_is_replaced_at_sign_in,
    agents_sign_in_with_a_totp_code_used_once,
    forced_enrollment_and_recovery_codes,
    posts_without_the_csrf_token_are_refused,
    an_agent_invites_a_guest_who_then_signs_in,
    sessions_end_when_idle_and_at_their_age_limit,
    a_trusted_proxy_signs_people_in_by_header,
    agents_send_reset_links_and_invitations_from_the_console,
);

const GOOD: &str = "correct horse battery";

/// A harness with `extra` config, its web endpoint, and account workflows on the same clock.
async fn site(backend: Backend, extra: &str) -> Option<(Harness, std::net::SocketAddr, Accounts)> {
    let h = Harness::with_config(backend, extra).await?;
    let address = serve(&h).await;
    let app = mailgate::app::open_with_clock(&h.config, Arc::new(h.clock.clone())).await.unwrap();
    let accounts = Accounts::new(&h.config, app);
    Some((h, address, accounts))
}

/// The `link` of the newest queued `template` mail to `to`.
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

async fn count(h: &Harness, template: &'static str) -> i64 {
    h.read(move |tx| {
        tx.query_one("SELECT COUNT(*) FROM outbox WHERE template = $1", mailgate::params![template], |r| {
            r.i64(0)
        })
    })
    .await
}

/// Signs up `email` on the portal and confirms it from the queued mail, choosing the password on
/// the link; returns the signed-in client.
async fn signed_up(h: &Harness, address: std::net::SocketAddr, email: &str) -> Client {
    let mut client = Client::new(address);
    let form = format!("name=Ann&email={}", encode(email));
    let answer = client.submit("/register", "/register", &form).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let link = mailed_link(h, "account_confirm", email).await;
    let confirmed = client.submit(&link, &link, &format!("password={}", encode(GOOD))).await;
    assert_eq!((confirmed.status, confirmed.location()), (303, "/tickets"), "{}", confirmed.body);
    client
}

async fn each_registration_mode_governs_the_portal_and_mail(backend: Backend) {
    // (required, method, /register, guest /tickets/new)
    let modes = [
        (false, "public", 200, 200),
        (true, "public", 200, 303),
        (false, "private", 403, 200),
        (true, "private", 403, 303),
        (false, "disabled", 403, 200),
        (true, "disabled", 403, 403),
    ];
    for (required, method, register, new_ticket) in modes {
        for reject in [false, true] {
            let extra = format!(
                "[registration]\nrequired = {required}\nmethod = \"{method}\"\nreject_unregistered_email = {reject}\n"
            );
            let Some((h, address, _)) = site(backend, &extra).await else { return };
            let mode = format!("required={required} method={method} reject={reject}");
            let mut client = Client::new(address);
            assert_eq!(client.get("/register").await.status, register, "{mode}: /register");
            let page = client.get("/tickets/new").await;
            assert_eq!(page.status, new_ticket, "{mode}: guest /tickets/new");
            if new_ticket == 303 {
                assert_eq!(page.location(), "/login", "{mode}");
            }
            if new_ticket == 200 {
                let form = "name=Gus&email=gus%40guest.example&subject=Help&message=It+broke";
                let sent = client.submit("/tickets/new", "/tickets/new", form).await;
                assert_eq!(sent.status, 200, "{mode}: {}", sent.body);
                let owners =
                    h.strings("SELECT u.email FROM tickets t JOIN users u ON u.id = t.user_id", "").await;
                assert_eq!(owners, ["gus@guest.example"], "{mode}: a web ticket through the ingest path");
                assert_eq!(
                    h.strings("SELECT source FROM inbound", "").await,
                    ["web"],
                    "{mode}: stored as inbound mail"
                );
            }
            // An unknown sender mails a new ticket.
            let report = h
                .pipe(&Mail::new("Stranger <stranger@unknown.example>", "Hello", "Please help").build())
                .await;
            if reject {
                assert!(
                    matches!(&report.outcome, Outcome::Quarantined { reason } if reason.contains("registration required")),
                    "{mode}: {:?}",
                    report.outcome
                );
                assert_eq!(
                    h.strings("SELECT recipient FROM outbox WHERE template = $1", "rejection_notice").await,
                    ["stranger@unknown.example"],
                    "{mode}: the sender is told"
                );
            } else {
                assert!(matches!(report.outcome, Outcome::Created { .. }), "{mode}: {:?}", report.outcome);
            }
            // Guests' one-click links keep working in every mode.
            let page = client.get(&format!("/t/{}", "x")).await;
            assert_eq!(page.status, 404, "{mode}: a bad link is still just not found");
        }
    }
}

async fn sign_up_is_confirmed_by_the_mailed_link_once(backend: Backend) {
    let Some((h, address, _)) = site(backend, "").await else { return };
    let mut client = Client::new(address);
    // Weak passwords are refused with the reason, on the link (where the password is chosen).
    let started = client.submit("/register", "/register", "name=Ann&email=ann2%40acme.com").await;
    assert_eq!(started.status, 200, "{}", started.body);
    let link = mailed_link(&h, "account_confirm", "ann2@acme.com").await;
    let weak = client.submit(&link, &link, "password=password123").await;
    assert_eq!(weak.status, 400);
    assert!(weak.body.to_lowercase().contains("common"), "{}", weak.body);
    let short = client.submit(&link, &link, "password=short1").await;
    assert_eq!(short.status, 400);
    assert_eq!(client.get(&link).await.status, 200, "a refused password does not spend the link");

    let mut client = signed_up(&h, address, "ann@acme.com").await;
    assert_eq!(h.strings("SELECT status FROM users WHERE email = $1", "ann@acme.com").await, ["registered"]);
    assert_eq!(
        h.strings(
            "SELECT o.key FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.email = $1",
            "ann@acme.com"
        )
        .await,
        ["acme"],
        "a confirmed account joins its domain's organization"
    );
    let link = mailed_link(&h, "account_confirm", "ann@acme.com").await;
    let again = Client::new(address).get(&link).await;
    assert_eq!(again.status, 410, "a confirmation link works once");

    // My tickets: a ticket mailed earlier by the same address shows, and opens.
    h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer on fire", "Help").build()).await;
    let mine = client.get("/tickets").await;
    assert_eq!(mine.status, 200);
    assert!(mine.body.contains("Printer on fire"), "{}", mine.body);
    let at = mine.body.find("href=\"/t/").unwrap() + "href=\"".len();
    let ticket_link = &mine.body[at..at + mine.body[at..].find('"').unwrap()];
    assert_eq!(client.get(ticket_link).await.status, 200);

    // Signing up again with the address mails "you already have an account", not a new link.
    let before = count(&h, "account_confirm").await;
    let form = "name=Eve&email=ann%40acme.com";
    let answer = Client::new(address).submit("/register", "/register", form).await;
    assert_eq!(answer.status, 200, "the same answer as for a new address: {}", answer.body);
    assert_eq!(count(&h, "account_confirm").await, before);
    assert_eq!(count(&h, "account_exists").await, 1);

    // Sign out ends the session.
    let signed_out = client.submit("/tickets", "/logout", "").await;
    assert_eq!(signed_out.status, 303);
    assert_eq!(client.get("/tickets").await.location(), "/login");
}

async fn a_reset_link_works_once_and_expires(backend: Backend) {
    let Some((h, address, _)) = site(backend, "").await else { return };
    signed_up(&h, address, "ann@acme.com").await;
    let mut client = Client::new(address);
    let unknown = client.submit("/reset", "/reset", "email=nobody%40acme.com").await;
    let known = client.submit("/reset", "/reset", "email=ann%40acme.com").await;
    assert_eq!((unknown.status, known.status), (200, 200));
    assert_eq!(unknown.body, known.body, "the same answer");
    assert_eq!(count(&h, "password_reset").await, 1, "only the account's address gets a link");

    let link = mailed_link(&h, "password_reset", "ann@acme.com").await;
    let form = format!("password={}", encode("a brand new password"));
    let done = client.submit(&link, &link, &form).await;
    assert_eq!((done.status, done.location()), (303, "/tickets"), "{}", done.body);
    assert_eq!(Client::new(address).get(&link).await.status, 410, "used once");
    let reused = Client::new(address).post(&link, &format!("{form}&csrf=x")).await;
    assert!(reused.status == 403 || reused.status == 410, "{}", reused.status);

    // A second link expires after auth.reset_minutes (60) on the fixed clock.
    Client::new(address).submit("/reset", "/reset", "email=ann%40acme.com").await;
    let link = mailed_link(&h, "password_reset", "ann@acme.com").await;
    assert_eq!(Client::new(address).get(&link).await.status, 200);
    h.clock.advance_ms(61 * 60 * 1000);
    assert_eq!(Client::new(address).get(&link).await.status, 410, "expired");

    // The new password signs in; the old one does not.
    let mut client = Client::new(address);
    let old =
        client.submit("/login", "/login", &format!("email=ann%40acme.com&password={}", encode(GOOD))).await;
    assert_eq!(old.status, 401);
    let new = client.submit("/login", "/login", "email=ann%40acme.com&password=a+brand+new+password").await;
    assert_eq!((new.status, new.location()), (303, "/tickets"));
}

async fn sign_in_is_throttled_and_answers_alike_for_unknown_accounts(backend: Backend) {
    let Some((h, address, accounts)) = site(backend, "").await else { return };
    signed_up(&h, address, "ann@acme.com").await;
    let client_ip = "192.0.2.7".parse().unwrap();
    let wrong = accounts.sign_in(Realm::User, "ann@acme.com", "wrong password", client_ip).await.unwrap();
    let unknown = accounts.sign_in(Realm::User, "ghost@acme.com", "wrong password", client_ip).await.unwrap();
    assert_eq!((wrong, unknown), (SignIn::Denied, SignIn::Denied));
    let mut web = Client::new(address);
    let a = web.submit("/login", "/login", "email=ann%40acme.com&password=nope").await;
    let b = web.submit("/login", "/login", "email=ghost%40acme.com&password=nope").await;
    assert_eq!((a.status, a.body.replace(&a.csrf(), "")), (b.status, b.body.replace(&b.csrf(), "")));

    // auth.max_failed_logins = 5 per account and client: locked, even for the right password (the
    // web attempt above came from another client address and does not count here).
    for _ in 0..4 {
        accounts.sign_in(Realm::User, "ann@acme.com", "wrong", client_ip).await.unwrap();
    }
    let locked = accounts.sign_in(Realm::User, "ann@acme.com", GOOD, client_ip).await.unwrap();
    assert_eq!(locked, SignIn::Throttled);
    // Unknown accounts lock the same way (nothing tells them apart).
    for _ in 0..5 {
        accounts.sign_in(Realm::User, "ghost@acme.com", "wrong", client_ip).await.unwrap();
    }
    assert_eq!(
        accounts.sign_in(Realm::User, "ghost@acme.com", "x", client_ip).await.unwrap(),
        SignIn::Throttled
    );
    // The lock is in the database: a second daemon sees it.
    let other = Accounts::new(
        &h.config,
        mailgate::app::open_with_clock(&h.config, Arc::new(h.clock.clone())).await.unwrap(),
    );
    assert_eq!(other.sign_in(Realm::User, "ann@acme.com", GOOD, client_ip).await.unwrap(), SignIn::Throttled);
    h.clock.advance_ms(16 * 60 * 1000);
    let back = accounts.sign_in(Realm::User, "ann@acme.com", GOOD, client_ip).await.unwrap();
    assert!(matches!(back, SignIn::Granted { .. }), "{back:?}");

    // Per client address: 50 failures over many accounts.
    let busy = "198.51.100.9".parse().unwrap();
    let mut last = SignIn::Denied;
    for n in 0..50 {
        last = accounts.sign_in(Realm::User, &format!("user{n}@acme.com"), "x", busy).await.unwrap();
    }
    assert_eq!(last, SignIn::Throttled);
    assert_eq!(accounts.sign_in(Realm::User, "ann@acme.com", GOOD, busy).await.unwrap(), SignIn::Throttled);
}

async fn an_outdated_hash_is_replaced_at_sign_in(backend: Backend) {
    let Some((h, _, accounts)) = site(backend, "").await else { return };
    let old = PasswordPolicy {
        params: Argon2Params { memory_kib: 8192, iterations: 1, parallelism: 1 },
        min_length: 10,
    };
    let hash = old.hash(GOOD).unwrap();
    h.write(move |tx| {
        tx.execute(
            "UPDATE agents SET password_hash = $1 WHERE key = 'alice'",
            mailgate::params![hash.as_str()],
        )
    })
    .await;
    let ip = "192.0.2.1".parse().unwrap();
    let signed = accounts.sign_in(Realm::Agent, "alice@example.com", GOOD, ip).await.unwrap();
    assert!(matches!(signed, SignIn::Granted { .. }), "{signed:?}");
    let stored = h.strings("SELECT password_hash FROM agents WHERE key = $1", "alice").await;
    assert!(stored[0].starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored:?}");
    // And it still verifies.
    let again = accounts.sign_in(Realm::Agent, "alice", GOOD, ip).await.unwrap();
    assert!(matches!(again, SignIn::Granted { .. }));
}

/// An `[auth]` section with a TOTP sealing key in a temp dir (kept while the dir lives).
fn totp_key() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("totp.key");
    std::fs::write(&path, "0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    let section = format!("[auth]\ntotp_key_file = \"{}\"\n", path.display());
    (dir, section)
}

/// Signs agent alice in on the web and returns the client, at whatever step it led to.
async fn agent_password(address: std::net::SocketAddr) -> (Client, common::http::Page) {
    let mut client = Client::new(address);
    let form = format!("login=alice%40example.com&password={}", encode(GOOD));
    let page = client.submit("/agent/login", "/agent/login", &form).await;
    (client, page)
}

/// The secret shown on the enrollment page.
fn shown_secret(page: &common::http::Page) -> Vec<u8> {
    let at = page.body.find("class=\"secret\">").unwrap() + "class=\"secret\">".len();
    let text = &page.body[at..at + page.body[at..].find('<').unwrap()];
    data_encoding::BASE32_NOPAD.decode(text.trim().trim_end_matches('=').as_bytes()).unwrap()
}

async fn agents_sign_in_with_a_totp_code_used_once(backend: Backend) {
    let (_key, extra) = totp_key();
    let Some((h, address, accounts)) = site(backend, &extra).await else { return };
    accounts.set_agent_password("alice", GOOD).await.unwrap();
    let (mut client, page) = agent_password(address).await;
    assert_eq!(page.location(), "/agent", "no 2FA yet: straight in");

    // Enrollment: the QR code is drawn here (a data: PNG), a wrong code is refused, a right one
    // switches 2FA on and shows ten recovery codes.
    let enroll = client.get("/agent/2fa").await;
    assert_eq!(enroll.status, 200, "{}", enroll.body);
    assert!(enroll.body.contains("src=\"data:image/png;base64,iVBOR"), "a locally drawn PNG");
    assert!(enroll.header("content-security-policy").unwrap().contains("img-src 'self' data:"));
    let secret = shown_secret(&enroll);
    let now = common::T0;
    let wrong = client.post("/agent/2fa", &format!("code=000000&csrf={}", enroll.csrf())).await;
    assert_eq!(wrong.status, 401);
    let code = totp::code_at(&secret, now);
    let done = client.post("/agent/2fa", &format!("code={code}&csrf={}", wrong.csrf())).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body.matches("<li><code>").count(), 10, "ten recovery codes");
    let sealed = h.read(|tx| tx.query_one("SELECT secret FROM totp", &[], |r| r.bytes(0))).await;
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()), "the secret is sealed at rest");

    // Next sign-in: password, then the code. The enrollment code (same step) is refused: used.
    let (mut client, page) = agent_password(address).await;
    assert_eq!(page.location(), "/agent/login/code");
    assert_eq!(client.get("/agent").await.location(), "/agent/login/code", "no console before the code");
    let form = client.get("/agent/login/code").await;
    let reused = client.post("/agent/login/code", &format!("code={code}&csrf={}", form.csrf())).await;
    assert_eq!(reused.status, 401, "a code is never accepted twice");
    // Two steps away: refused. One step ahead: accepted, once.
    let far = totp::code_at(&secret, now + 60_000);
    let refused = client.post("/agent/login/code", &format!("code={far}&csrf={}", form.csrf())).await;
    assert_eq!(refused.status, 401, "two steps off");
    let next = totp::code_at(&secret, now + 30_000);
    let ok = client.post("/agent/login/code", &format!("code={next}&csrf={}", form.csrf())).await;
    assert_eq!((ok.status, ok.location()), (303, "/agent"), "{}", ok.body);
    let (mut again, _) = agent_password(address).await;
    let form = again.get("/agent/login/code").await;
    let replay = again.post("/agent/login/code", &format!("code={next}&csrf={}", form.csrf())).await;
    assert_eq!(replay.status, 401, "the same step again, in another session");

    // The session id changed at each step.
    assert_ne!(client.cookies.get("mg_agent"), again.cookies.get("mg_agent"));
}

async fn forced_enrollment_and_recovery_codes(backend: Backend) {
    let (_key, section) = totp_key();
    let extra = format!("{section}require_agent_2fa = true\n");
    let Some((_h, address, accounts)) = site(backend, &extra).await else { return };
    accounts.set_agent_password("alice", GOOD).await.unwrap();
    let (mut client, page) = agent_password(address).await;
    assert_eq!(page.location(), "/agent/2fa", "enrollment is forced");
    assert_eq!(client.get("/agent").await.location(), "/agent/2fa", "nothing else until enrolled");
    let enroll = client.get("/agent/2fa").await;
    assert!(enroll.body.contains("needs two-factor"), "{}", enroll.body);
    let code = totp::code_at(&shown_secret(&enroll), common::T0);
    let done = client.post("/agent/2fa", &format!("code={code}&csrf={}", enroll.csrf())).await;
    let codes: Vec<String> = done
        .body
        .split("<li><code>")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_string())
        .collect();
    assert_eq!(codes.len(), 10);

    // A recovery code replaces the TOTP code, once.
    let (mut client, _) = agent_password(address).await;
    let form = client.get("/agent/login/code").await;
    let used =
        client.post("/agent/login/code", &format!("code={}&csrf={}", encode(&codes[0]), form.csrf())).await;
    assert_eq!((used.status, used.location()), (303, "/agent"));
    let (mut client, _) = agent_password(address).await;
    let form = client.get("/agent/login/code").await;
    let twice =
        client.post("/agent/login/code", &format!("code={}&csrf={}", encode(&codes[0]), form.csrf())).await;
    assert_eq!(twice.status, 401, "recovery codes are single-use");

    // An admin resets 2FA: the agent must enroll again at the next sign-in.
    assert!(accounts.reset_agent_2fa("alice").await.unwrap());
    let (_, page) = agent_password(address).await;
    assert_eq!(page.location(), "/agent/2fa");
}

async fn posts_without_the_csrf_token_are_refused(backend: Backend) {
    let Some((h, address, accounts)) = site(backend, "").await else { return };
    accounts.set_agent_password("alice", GOOD).await.unwrap();
    let mut client = Client::new(address);
    client.get("/login").await; // has the anonymous cookie now
    let login = format!("login=alice%40example.com&password={}", encode(GOOD));
    for (path, form) in [
        ("/agent/login", login.clone()),
        ("/agent/login", format!("{login}&csrf=AAAAAAAAAAAAAAAAAAAAAA")),
        ("/login", "email=a%40acme.com&password=x".to_string()),
        ("/register", "email=a%40acme.com&password=x&csrf=forged".to_string()),
        ("/reset", "email=a%40acme.com".to_string()),
        ("/tickets/new", "email=a%40acme.com&subject=s&message=m".to_string()),
    ] {
        assert_eq!(client.post(path, &form).await.status, 403, "{path} {form}");
    }
    // A token from another visitor's cookie does not fit this one.
    let mut other = Client::new(address);
    let foreign = other.get("/agent/login").await.csrf();
    assert_eq!(client.post("/agent/login", &format!("{login}&csrf={foreign}")).await.status, 403);

    // Signed in: the session's own token, nothing else.
    let signed = client.submit("/agent/login", "/agent/login", &login).await;
    assert_eq!(signed.location(), "/agent");
    let logout = client.post("/agent/logout", &format!("csrf={foreign}")).await;
    assert_eq!(logout.status, 403, "sign-out needs the session's token too");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM sessions").await, 1);
}

async fn an_agent_invites_a_guest_who_then_signs_in(backend: Backend) {
    let extra = "[registration]\nmethod = \"private\"\n";
    let Some((h, address, accounts)) = site(backend, extra).await else { return };
    h.pipe(&Mail::new("Gus <gus@globex.com>", "Hi", "Hello").build()).await;
    let gus = h.scalar_i64("SELECT id FROM users WHERE email = 'gus@globex.com'").await;
    let alice = h.scalar_i64("SELECT id FROM agents WHERE key = 'alice'").await;
    assert!(
        accounts.invite(mailgate::core::ids::UserId(gus), mailgate::core::ids::AgentId(alice)).await.unwrap()
    );
    let link = mailed_link(&h, "account_invite", "gus@globex.com").await;
    let mut client = Client::new(address);
    let page = client.get(&link).await;
    assert!(page.body.contains("gus@globex.com"), "{}", page.body);
    let weak = client.post(&link, &format!("password=qwertyuiop&csrf={}", page.csrf())).await;
    assert_eq!(weak.status, 400, "the password rules apply");
    let done = client.submit(&link, &link, &format!("password={}", encode(GOOD))).await;
    assert_eq!(done.location(), "/tickets");
    assert!(client.get("/tickets").await.body.contains("Hi"));
    // Invited once: a registered user cannot be invited again.
    assert!(
        accounts.invite(mailgate::core::ids::UserId(gus), mailgate::core::ids::AgentId(alice)).await.is_err()
    );
}

async fn sessions_end_when_idle_and_at_their_age_limit(backend: Backend) {
    let extra = "[web]\nbase_url = \"https://help.example.com\"\n";
    let Some((h, address, _)) = site(backend, extra).await else { return };
    signed_up(&h, address, "ann@acme.com").await;
    let mut client = Client::new(address);
    // The cookie: HttpOnly, SameSite=Strict, Secure on an https site.
    let signed =
        client.submit("/login", "/login", &format!("email=ann%40acme.com&password={}", encode(GOOD))).await;
    let cookie = signed.header("set-cookie").unwrap().to_string();
    assert!(cookie.starts_with("mg_user=") && cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict") && cookie.contains("Secure"), "{cookie}");

    // Idle: auth.session_idle_minutes = 120.
    h.clock.advance_ms(119 * 60 * 1000);
    assert_eq!(client.get("/tickets").await.status, 200, "still active");
    h.clock.advance_ms(121 * 60 * 1000);
    assert_eq!(client.get("/tickets").await.location(), "/login", "idle too long");

    // Absolute: auth.session_max_hours = 12, however active.
    let signed =
        client.submit("/login", "/login", &format!("email=ann%40acme.com&password={}", encode(GOOD))).await;
    assert_eq!(signed.location(), "/tickets");
    for _ in 0..11 {
        h.clock.advance_ms(60 * 60 * 1000);
        assert_eq!(client.get("/tickets").await.status, 200);
    }
    h.clock.advance_ms(61 * 60 * 1000);
    assert_eq!(client.get("/tickets").await.location(), "/login", "older than 12 hours");
}

async fn a_trusted_proxy_signs_people_in_by_header(backend: Backend) {
    let extra = "[auth]\npassthrough_header = \"X-Remote-User\"\npassthrough_proxies = [\"127.0.0.2\"]\n";
    let Some((h, address, _)) = site(backend, extra).await else { return };
    signed_up(&h, address, "ann@acme.com").await;
    let ask = |path: &str, user: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Remote-User: {user}\r\n\r\n")
    };
    let proxy = "127.0.0.2".parse().unwrap();
    let stranger = "127.0.0.1".parse().unwrap();
    let request_from = common::http::request_from;

    let forged = request_from(stranger, address, &ask("/agent/login", "alice@example.com")).await;
    assert_eq!(forged.status, 200, "the header from anyone but the proxy is ignored: the login form");
    let agent = request_from(proxy, address, &ask("/agent/login", "alice@example.com")).await;
    assert_eq!((agent.status, agent.location()), (303, "/agent"));
    assert!(agent.header("set-cookie").unwrap().starts_with("mg_agent="));
    let user = request_from(proxy, address, &ask("/login", "ann@acme.com")).await;
    assert_eq!((user.status, user.location()), (303, "/tickets"));
    let nobody = request_from(proxy, address, &ask("/agent/login", "mallory@evil.example")).await;
    assert_eq!(nobody.status, 200, "an address with no account gets the form");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM sessions WHERE agent_id IS NOT NULL").await, 1);
}

async fn agents_send_reset_links_and_invitations_from_the_console(backend: Backend) {
    let Some((h, address, accounts)) = site(backend, "").await else { return };
    signed_up(&h, address, "ann@acme.com").await;
    h.pipe(&Mail::new("Gus <gus@globex.com>", "Hi", "Hello").build()).await;
    let ann = h.scalar_i64("SELECT id FROM users WHERE email = 'ann@acme.com'").await;
    let gus = h.scalar_i64("SELECT id FROM users WHERE email = 'gus@globex.com'").await;
    accounts.set_agent_password("alice", GOOD).await.unwrap();
    let (mut agent, _) = agent_password(address).await;

    let record = agent.get(&format!("/agent/users/{gus}")).await;
    assert!(record.body.contains(&format!("/agent/users/{gus}/invite")), "a guest can be invited");
    let forged = agent.post(&format!("/agent/users/{gus}/invite"), "csrf=nope").await;
    assert_eq!(forged.status, 403);
    assert_eq!(count(&h, "account_invite").await, 0);
    let invited = agent.post(&format!("/agent/users/{gus}/invite"), &format!("csrf={}", record.csrf())).await;
    assert_eq!(invited.location(), format!("/agent/users/{gus}?done=invite"));
    assert_eq!(count(&h, "account_invite").await, 1);

    let record = agent.get(&format!("/agent/users/{ann}")).await;
    assert!(record.body.contains(&format!("/agent/users/{ann}/reset")), "a registered user can get a reset");
    let sent = agent.post(&format!("/agent/users/{ann}/reset"), &format!("csrf={}", record.csrf())).await;
    assert_eq!(sent.location(), format!("/agent/users/{ann}?done=reset"));
    assert_eq!(count(&h, "password_reset").await, 1);
    // A reset for a guest is refused, and the record says why.
    let refused = agent.post(&format!("/agent/users/{gus}/reset"), &format!("csrf={}", record.csrf())).await;
    assert!(refused.location().contains("error="), "{}", refused.location());
    let shown = agent.get(refused.location()).await;
    assert!(shown.body.contains("not registered"), "{}", shown.body);
    // Without a session: the sign-in page.
    let stranger = Client::new(address).post(&format!("/agent/users/{ann}/reset"), "csrf=x").await;
    assert_eq!(stranger.location(), "/agent/login");
}
