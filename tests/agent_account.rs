//! An agent's own account page over real HTTP on both backends: changing the password (current
//! password, and a TOTP code once enrolled; other sessions end), new recovery codes (shown once,
//! the old ones void, a current code required), and moving to a new authenticator (a code of the
//! old one, then of the new one; the old secret works until then). CSRF and hostile input too.

mod common;

use common::http::{Client, Page, encode, serve};
use common::{Backend, Harness};
use mailgate::auth::totp;
use mailgate::clock::Clock;

on_both_backends!(
    an_agent_changes_their_password,
    an_agent_with_two_factor_changes_their_password_with_a_code,
    recovery_codes_are_made_anew_with_a_current_code,
    a_new_authenticator_replaces_the_old_only_when_confirmed,
);

const GOOD: &str = "blue velvet staircase";
const STEP_MS: i64 = 30_000;

/// A site with a TOTP key, agent alice with password `GOOD`.
async fn site(backend: Backend) -> Option<(tempfile::TempDir, Harness, std::net::SocketAddr)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("totp.key");
    std::fs::write(&path, "0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    let extra = format!("[auth]\ntotp_key_file = \"{}\"\n", path.display());
    let h = Harness::with_config(backend, &extra).await?;
    let address = serve(&h).await;
    let app = mailgate::app::open_with_clock(&h.config, std::sync::Arc::new(h.clock.clone())).await.unwrap();
    mailgate::accounts::Accounts::new(&h.config, app).set_agent_password("alice", GOOD).await.unwrap();
    Some((dir, h, address))
}

async fn sign_in(address: std::net::SocketAddr, password: &str) -> (Client, Page) {
    let mut client = Client::new(address);
    let form = format!("login=alice&password={}", encode(password));
    let page = client.submit("/agent/login", "/agent/login", &form).await;
    (client, page)
}

/// The base32 secret shown in `code.secret`.
fn shown_secret(page: &Page) -> Vec<u8> {
    let at = page.body.find("class=\"secret\">").unwrap() + "class=\"secret\">".len();
    let text = &page.body[at..at + page.body[at..].find('<').unwrap()];
    data_encoding::BASE32_NOPAD.decode(text.trim().trim_end_matches('=').as_bytes()).unwrap()
}

fn codes_on(page: &Page) -> Vec<String> {
    page.body.split("<li><code>").skip(1).map(|rest| rest[..rest.find('<').unwrap()].to_string()).collect()
}

/// Alice signs in and enrolls: the signed-in client, her secret and recovery codes. The clock is
/// one step on, so the next code is fresh.
async fn enrolled(h: &Harness, address: std::net::SocketAddr) -> (Client, Vec<u8>, Vec<String>) {
    let (mut client, page) = sign_in(address, GOOD).await;
    assert_eq!(page.location(), "/agent");
    let enroll = client.get("/agent/2fa").await;
    let secret = shown_secret(&enroll);
    let code = totp::code_at(&secret, h.clock.now_ms());
    let done = client.post("/agent/2fa", &format!("code={code}&csrf={}", encode(&enroll.csrf()))).await;
    let codes = codes_on(&done);
    assert_eq!(codes.len(), 10, "{}", done.body);
    h.clock.advance_ms(STEP_MS);
    (client, secret, codes)
}

async fn an_agent_changes_their_password(backend: Backend) {
    let Some((_dir, _h, address)) = site(backend).await else { return };
    let (mut client, _) = sign_in(address, GOOD).await;
    let (mut other, _) = sign_in(address, GOOD).await;
    let page = client.get("/agent/account").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Off.") && !page.body.contains("name=\"code\""), "no code without 2FA");
    assert!(client.get("/agent").await.body.contains("href=\"/agent/account\""), "in the console's nav");

    let wrong = client
        .submit("/agent/account", "/agent/account/password", "current=nope&password=fresh+new+passphrase")
        .await;
    assert_eq!(wrong.status, 401);
    let weak = client
        .submit(
            "/agent/account",
            "/agent/account/password",
            &format!("current={}&password=alice1234567", encode(GOOD)),
        )
        .await;
    assert_eq!(weak.status, 400, "contains her key");
    assert_eq!(client.post("/agent/account/password", "current=x&password=y").await.status, 403, "CSRF");
    let huge = format!("current={}&password=y&csrf=x", "a".repeat(1024 * 1024));
    assert_eq!(client.post("/agent/account/password", &huge).await.status, 413);
    let form = format!("current={}&password=fresh+new+passphrase", encode(GOOD));
    let changed = client.submit("/agent/account", "/agent/account/password", &form).await;
    assert_eq!(changed.location(), "/agent/account?done=password");
    assert!(client.get("/agent/account?done=password").await.body.contains("password was changed"));
    assert_eq!(other.get("/agent").await.location(), "/agent/login", "the other session ended");
    assert_eq!(sign_in(address, GOOD).await.1.status, 401);
    assert_eq!(sign_in(address, "fresh new passphrase").await.1.location(), "/agent");
}

async fn an_agent_with_two_factor_changes_their_password_with_a_code(backend: Backend) {
    let Some((_dir, h, address)) = site(backend).await else { return };
    let (mut client, secret, _) = enrolled(&h, address).await;
    let form = |code: &str| format!("current={}&code={code}&password=fresh+new+passphrase", encode(GOOD));
    let missing = client.submit("/agent/account", "/agent/account/password", &form("")).await;
    assert_eq!(missing.status, 401, "a code is required once enrolled");
    let wrong = client.submit("/agent/account", "/agent/account/password", &form("000000")).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("code is not valid"));
    let code = totp::code_at(&secret, h.clock.now_ms());
    let changed = client.submit("/agent/account", "/agent/account/password", &form(&code)).await;
    assert_eq!(changed.location(), "/agent/account?done=password");
    // The code is spent: the same one does not sign in.
    let (mut again, page) = sign_in(address, "fresh new passphrase").await;
    assert_eq!(page.location(), "/agent/login/code");
    let reused = again.submit("/agent/login/code", "/agent/login/code", &format!("code={code}")).await;
    assert_eq!(reused.status, 401, "a code works once");
}

async fn recovery_codes_are_made_anew_with_a_current_code(backend: Backend) {
    let Some((_dir, h, address)) = site(backend).await else { return };
    let (mut client, secret, old) = enrolled(&h, address).await;
    let wrong = client.submit("/agent/account", "/agent/account/recovery-codes", "code=123456").await;
    assert_eq!(wrong.status, 401);
    // Hostile input is just a wrong code: markup, line breaks and control characters are not echoed.
    let hostile = client
        .submit("/agent/account", "/agent/account/recovery-codes", "code=%3Cscript%3E%0D%0A%00%07")
        .await;
    assert_eq!(hostile.status, 401);
    assert!(!hostile.body.contains("<script>"));
    let recovery = client
        .submit("/agent/account", "/agent/account/recovery-codes", &format!("code={}", encode(&old[0])))
        .await;
    assert_eq!(recovery.status, 401, "a recovery code does not make new ones");
    let code = totp::code_at(&secret, h.clock.now_ms());
    let made =
        client.submit("/agent/account", "/agent/account/recovery-codes", &format!("code={code}")).await;
    assert_eq!(made.status, 200);
    let fresh = codes_on(&made);
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !old.contains(c)));
    assert!(!client.get("/agent/account").await.body.contains(&fresh[0]), "shown once");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM recovery_codes").await, 10, "the old ones are gone");

    let (mut later, _) = sign_in(address, GOOD).await;
    let old_used =
        later.submit("/agent/login/code", "/agent/login/code", &format!("code={}", encode(&old[1]))).await;
    assert_eq!(old_used.status, 401, "an old code is void");
    let new_used =
        later.submit("/agent/login/code", "/agent/login/code", &format!("code={}", encode(&fresh[1]))).await;
    assert_eq!(new_used.location(), "/agent");
}

async fn a_new_authenticator_replaces_the_old_only_when_confirmed(backend: Backend) {
    let Some((_dir, h, address)) = site(backend).await else { return };
    let (mut client, old_secret, _) = enrolled(&h, address).await;
    let stored = || h.strings("SELECT CAST(last_step AS TEXT) FROM totp", "");
    let wrong = client.submit("/agent/account", "/agent/account/totp", "code=123456").await;
    assert_eq!(wrong.status, 401);
    assert!(!wrong.body.contains("class=\"secret\""));

    let code = totp::code_at(&old_secret, h.clock.now_ms());
    let started = client.submit("/agent/account", "/agent/account/totp", &format!("code={code}")).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let csp = started.header("content-security-policy").unwrap();
    assert!(csp.contains("img-src 'self' data:"), "the QR code's page allows data: images");
    let new_secret = shown_secret(&started);
    assert_ne!(new_secret, old_secret);
    let proof = field(&started, "proof");
    let expires = field(&started, "expires");
    let csrf = started.csrf();
    h.clock.advance_ms(STEP_MS);

    // A wrong code, a forged proof: the old secret stays and still signs in.
    let confirm = |code: String, proof: &str| {
        format!("code={code}&proof={proof}&expires={expires}&csrf={}", encode(&csrf))
    };
    let bad = client.post("/agent/account/totp/confirm", &confirm("000000".into(), &proof)).await;
    assert_eq!(bad.status, 401);
    assert_eq!(shown_secret(&bad), new_secret, "the same new secret, to try again");
    let forged = client
        .post("/agent/account/totp/confirm", &confirm(totp::code_at(&new_secret, h.clock.now_ms()), "00ff"))
        .await;
    assert_eq!(forged.status, 400, "no proof of the old code, no switch");
    let before = stored().await;
    let (mut other, _) = sign_in(address, GOOD).await;
    let old_code = totp::code_at(&old_secret, h.clock.now_ms());
    let still = other.submit("/agent/login/code", "/agent/login/code", &format!("code={old_code}")).await;
    assert_eq!(still.location(), "/agent", "the old authenticator works until the new one is confirmed");
    assert_ne!(stored().await, before);

    h.clock.advance_ms(STEP_MS);
    let switched = client
        .post("/agent/account/totp/confirm", &confirm(totp::code_at(&new_secret, h.clock.now_ms()), &proof))
        .await;
    assert_eq!(switched.location(), "/agent/account?done=totp");
    h.clock.advance_ms(STEP_MS);
    let (mut later, _) = sign_in(address, GOOD).await;
    let old_code = totp::code_at(&old_secret, h.clock.now_ms());
    let refused = later.submit("/agent/login/code", "/agent/login/code", &format!("code={old_code}")).await;
    assert_eq!(refused.status, 401, "the old authenticator no longer works");
    let new_code = totp::code_at(&new_secret, h.clock.now_ms());
    let accepted = later.submit("/agent/login/code", "/agent/login/code", &format!("code={new_code}")).await;
    assert_eq!(accepted.location(), "/agent");

    // The proof expires: ten minutes after the old code was given.
    h.clock.advance_ms(11 * 60 * 1000);
    let late = client
        .post("/agent/account/totp/confirm", &confirm(totp::code_at(&new_secret, h.clock.now_ms()), &proof))
        .await;
    assert_eq!(late.status, 400);
    assert_eq!(client.post("/agent/account/totp", "code=123456").await.status, 403, "CSRF");
}

/// The value of hidden field `name`.
fn field(page: &Page, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page.body.find(&marker).unwrap_or_else(|| panic!("no {name} in {}", page.body)) + marker.len();
    page.body[at..at + page.body[at..].find('"').unwrap()].to_string()
}
