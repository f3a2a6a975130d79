//! OpenID Connect sign-in end to end against a real provider (PyPI's oidc-provider-mock, PKCE and
//! nonce required; tests/common/oidc_provider.rs), on SQLite and PostgreSQL: in headless Chromium
//! as a person does it (the provider's own page, its Authorize and Deny buttons), and over plain
//! HTTP for what a browser cannot show (a replayed redirect with its cookie, TLS to the provider).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::browser::{Browser, shows};
use common::oidc_provider::{self, OidcProvider, claims};
use common::{Backend, Harness, Mail};
use mailgate::auth::totp;

/// A harness on `backend` with `extra` configuration, serving the web on a loopback port; its base
/// URL (`http://127.0.0.1:PORT`).
async fn serve(backend: Backend, extra: &str) -> Option<(Harness, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let h = Harness::with_config(backend, &format!("[web]\nbase_url = \"{base}\"\n{extra}")).await?;
    let app = mailgate::app::open_with_clock(&h.config, Arc::new(h.clock.clone())).await.unwrap();
    let router = mailgate::app::web_router(&h.config, app).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _keep = stop;
        mailgate::web::serve(listener, router, stopped).await.unwrap();
    });
    Some((h, base))
}

/// The browser is on the provider's page: sign in there as `sub` (typed, as a person would).
async fn authorize_as(browser: &Browser, sub: &str) {
    browser.fill("input[name=sub]", sub).await;
    browser.click("button[type=submit]:not([name])").await;
}

/// Waits until the browser's URL ends with `path` (the sign-in page's meta refresh moves on).
async fn lands_on(browser: &Browser, path: &str) -> bool {
    for _ in 0..100 {
        if browser.current_url().await.ends_with(path) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn users_with(h: &Harness, email: &'static str) -> Vec<(i64, String)> {
    h.read(move |tx| {
        tx.query_all("SELECT id, status FROM users WHERE email = $1", mailgate::params![email], |r| {
            Ok((r.i64(0)?, r.string(1)?))
        })
    })
    .await
}

async fn identities_of(h: &Harness, user: i64) -> i64 {
    h.read(move |tx| {
        tx.query_one("SELECT COUNT(*) FROM identities WHERE user_id = $1", mailgate::params![user], |r| {
            r.i64(0)
        })
    })
    .await
}

/// The page's screenshots (`NAME-1280.png`, `NAME-390.png`), checked for layout problems.
async fn screenshot(browser: &Browser, name: &str) {
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    for width in [1280, 390] {
        browser.set_viewport(width, 800).await;
        let problems = browser.layout_problems().await;
        assert!(problems.is_empty(), "{name} at {width}px: {problems:?}");
        browser.screenshot(&dir.join(format!("{name}-{width}.png"))).await;
    }
    browser.set_viewport(1280, 900).await;
}

async fn customers_sign_in_with_the_provider(backend: Backend) {
    if !common::browser::available() || !oidc_provider::available() {
        return;
    }
    let provider = OidcProvider::start(&[
        claims("ann-at-idp", "ann@acme.com", true),
        claims("nina", "nina@newco.example", true),
        claims("eve", "eve@acme.com", false),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut extra =
        oidc_provider::config("idp", &provider.issuer, &["users"], &dir.path().join("idp.secret"));
    // A second provider that is down: nothing listens on its port.
    let down = format!("http://localhost:{}", common::ports::free_port());
    extra.push_str(&oidc_provider::config("down", &down, &["users"], &dir.path().join("down.secret")));
    let Some((h, base)) = serve(backend, &extra).await else { return };
    // Ann wrote to us before and made an account with a password: the provider links to it.
    h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "On fire.").build()).await;
    h.write(|tx| tx.execute("UPDATE users SET status = 'registered' WHERE email = 'ann@acme.com'", &[]))
        .await;
    let ann = users_with(&h, "ann@acme.com").await[0].0;

    let browser = Browser::start().await;
    browser.goto(&format!("{base}/login")).await;
    assert_eq!(browser.text("a.provider").await, "Sign in with idp");
    screenshot(&browser, "login-oidc").await;

    // First sign-in of someone unknown here (public mode): the account is made.
    browser.click("a.provider[href*='/idp/']").await;
    assert!(shows(&browser, "Authorize").await, "the provider's page: {}", browser.page_source().await);
    authorize_as(&browser, "nina").await;
    assert!(lands_on(&browser, "/tickets").await, "{}", browser.page_source().await);
    assert!(shows(&browser, "My tickets").await);
    let nina = users_with(&h, "nina@newco.example").await;
    assert_eq!(nina.len(), 1);
    assert_eq!(nina[0].1, "registered");
    assert_eq!(identities_of(&h, nina[0].0).await, 1);

    // Ann: linked to her existing account by the verified address, no second user.
    browser.client().delete_all_cookies().await.unwrap();
    browser.goto(&format!("{base}/login")).await;
    browser.click("a.provider[href*='/idp/']").await;
    authorize_as(&browser, "ann-at-idp").await;
    assert!(lands_on(&browser, "/tickets").await, "{}", browser.page_source().await);
    assert!(shows(&browser, "Printer").await, "Ann sees her ticket: {}", browser.page_source().await);
    assert_eq!(users_with(&h, "ann@acme.com").await, vec![(ann, "registered".to_string())]);
    assert_eq!(identities_of(&h, ann).await, 1);

    // An address the provider has not verified is refused, plainly.
    browser.client().delete_all_cookies().await.unwrap();
    browser.goto(&format!("{base}/login")).await;
    browser.click("a.provider[href*='/idp/']").await;
    authorize_as(&browser, "eve").await;
    assert!(shows(&browser, "has not verified your email address").await, "{}", browser.page_source().await);
    assert!(!browser.current_url().await.contains("/tickets"));

    // Denied at the provider: its error, shown as it is.
    browser.goto(&format!("{base}/login")).await;
    browser.click("a.provider[href*='/idp/']").await;
    browser.click("button[name=action][value=deny]").await;
    assert!(shows(&browser, "did not sign you in: access_denied").await, "{}", browser.page_source().await);

    // A state that is not the one we sent: refused, and nobody is signed in.
    browser.goto(&format!("{base}/login")).await;
    browser.click("a.provider[href*='/idp/']").await;
    assert!(shows(&browser, "Authorize").await);
    browser.goto(&format!("{base}/auth/oidc/idp/callback?code=stolen&state=tampered")).await;
    assert!(shows(&browser, "did not start here").await, "{}", browser.page_source().await);
    browser.goto(&format!("{base}/tickets")).await;
    assert!(lands_on(&browser, "/login").await, "not signed in");

    // The provider is down: a message on the sign-in page, no other way in.
    browser.click("a.provider[href*='/down/']").await;
    assert!(shows(&browser, "cannot be reached just now").await, "{}", browser.page_source().await);
    screenshot(&browser, "login-oidc-down").await;
    assert!(browser.current_url().await.contains("/auth/oidc/down/login"));
    drop(provider);
}

async fn agents_sign_in_with_the_provider_then_totp(backend: Backend) {
    if !common::browser::available() || !oidc_provider::available() {
        return;
    }
    let provider = OidcProvider::start(&[claims("alice-at-idp", "alice@example.com", true)]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("totp.key");
    std::fs::write(&key, "fedcba9876543210fedcba9876543210fedcba9876543210").unwrap();
    let mut extra = format!("[auth]\ntotp_key_file = \"{}\"\nrequire_agent_2fa = true\n", key.display());
    extra.push_str(&oidc_provider::config("staffid", &provider.issuer, &["agents"], &dir.path().join("s")));
    let Some((h, base)) = serve(backend, &extra).await else { return };

    let browser = Browser::start().await;
    browser.goto(&format!("{base}/login")).await;
    assert!(!browser.exists("a.provider").await, "an agents' provider has no button on the portal");
    browser.goto(&format!("{base}/agent/login")).await;
    assert_eq!(browser.text("a.provider").await, "Sign in with staffid");
    browser.click("a.provider").await;
    authorize_as(&browser, "alice-at-idp").await;
    // The provider vouched for Alice; TOTP is required and she has none: enrollment first.
    assert!(lands_on(&browser, "/agent/2fa").await, "{}", browser.page_source().await);
    let secret = browser.text("code.secret").await;
    let secret = data_encoding::BASE32_NOPAD.decode(secret.trim().as_bytes()).unwrap();
    browser.fill("input[name=code]", &totp::code_at(&secret, common::T0)).await;
    browser.click("button[type=submit]").await;
    assert!(shows(&browser, "recovery codes").await, "{}", browser.page_source().await);

    // Next time: the provider, then her code, then the console.
    h.clock.advance_ms(30_000);
    browser.client().delete_all_cookies().await.unwrap();
    browser.goto(&format!("{base}/agent/login")).await;
    browser.click("a.provider").await;
    authorize_as(&browser, "alice-at-idp").await;
    assert!(lands_on(&browser, "/agent/login/code").await, "{}", browser.page_source().await);
    browser.goto(&format!("{base}/agent")).await;
    assert!(lands_on(&browser, "/agent/login/code").await, "no console before the code");
    browser.fill("input[name=code]", &totp::code_at(&secret, common::T0 + 30_000)).await;
    browser.click("button[type=submit]").await;
    assert!(shows(&browser, "class=\"tabs\"").await, "the console: {}", browser.page_source().await);

    // Someone the provider knows who is no agent here: refused.
    provider.set_user("mallory", "mallory@example.com", true);
    browser.client().delete_all_cookies().await.unwrap();
    browser.goto(&format!("{base}/agent/login")).await;
    browser.click("a.provider").await;
    authorize_as(&browser, "mallory").await;
    assert!(shows(&browser, "No agent here has that address").await, "{}", browser.page_source().await);
}

/// The sign-in flow over plain HTTP, as a browser would run it, keeping what an attacker could keep.
struct Flow {
    http: reqwest::Client,
    base: String,
}

/// What came back from the provider: the callback URL and the flow cookie that went with it.
struct Callback {
    url: String,
    cookie: String,
}

impl Flow {
    fn new(base: &str) -> Flow {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Flow { http, base: base.to_string() }
    }

    /// Our login redirect: its status, `Location` and flow cookie.
    async fn start(&self, provider: &str, query: &str) -> (u16, String, String) {
        let answer =
            self.http.get(format!("{}/auth/oidc/{provider}/login{query}", self.base)).send().await.unwrap();
        let status = answer.status().as_u16();
        let location = header(&answer, "location");
        let cookie = header(&answer, "set-cookie").split(';').next().unwrap_or_default().to_string();
        (status, location, cookie)
    }

    /// Signs in at the provider as `sub`; the redirect back (not yet followed).
    async fn authorize(&self, provider: &str, sub: &str) -> Callback {
        let (status, location, cookie) = self.start(provider, "").await;
        assert_eq!(status, 303, "login redirects to the provider");
        assert!(cookie.starts_with("mg_oidc="), "{cookie}");
        let answer = self.http.post(&location).form(&[("sub", sub)]).send().await.unwrap();
        let url = header(&answer, "location");
        assert!(url.starts_with(&format!("{}/auth/oidc/{provider}/callback?", self.base)), "{url}");
        Callback { url, cookie }
    }

    /// Follows a redirect back with `cookie`: status and body.
    async fn finish(&self, url: &str, cookie: &str) -> (u16, String, String) {
        let answer = self.http.get(url).header("cookie", cookie).send().await.unwrap();
        let status = answer.status().as_u16();
        let set = header(&answer, "set-cookie");
        (status, set, answer.text().await.unwrap())
    }
}

fn header(answer: &reqwest::Response, name: &str) -> String {
    let all: Vec<&str> = answer.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    all.join("\n")
}

async fn a_callback_works_once_and_only_with_its_state(backend: Backend) {
    if !oidc_provider::available() {
        return;
    }
    let provider = OidcProvider::start(&[claims("ann-at-idp", "ann@acme.com", true)]);
    let dir = tempfile::tempdir().unwrap();
    let extra = oidc_provider::config("idp", &provider.issuer, &["users"], &dir.path().join("s"));
    let Some((h, base)) = serve(backend, &extra).await else { return };
    let flow = Flow::new(&base);

    let back = flow.authorize("idp", "ann-at-idp").await;
    let (status, _, body) = flow.finish(&back.url, "").await;
    assert_eq!(status, 400, "no flow cookie: {body}");
    assert!(body.contains("did not start here"), "{body}");
    let swapped = back.url.replace("state=", "state=x");
    let (status, _, _) = flow.finish(&swapped, &back.cookie).await;
    assert_eq!(status, 400, "another state");
    let code = back.url.split(['?', '&']).find(|p| p.starts_with("code=")).unwrap();
    let (status, _, _) = flow.finish(&format!("{base}/auth/oidc/idp/callback?{code}"), &back.cookie).await;
    assert_eq!(status, 400, "no state");

    // The provider really checks PKCE: the code is worth nothing without our verifier.
    let back = flow.authorize("idp", "ann-at-idp").await;
    let code = back.url.split(['?', '&']).find_map(|p| p.strip_prefix("code=")).unwrap().to_string();
    let redirect = format!("{base}/auth/oidc/idp/callback");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", &"x".repeat(43)),
    ];
    let stolen = flow.http.post(format!("{}/oauth2/token", provider.issuer)).form(&form);
    let answer = stolen.basic_auth("mailgate-test", Some("test-client-secret")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    assert!(answer.text().await.unwrap().contains("invalid_grant"));
    let (status, set, body) = flow.finish(&back.url, &back.cookie).await;
    assert_eq!(status, 200, "{body}\n{}", provider.log());
    assert!(set.contains("mg_user=") && set.contains("mg_oidc=;"), "session set, flow cleared: {set}");
    assert!(body.contains("url=/tickets"), "{body}");
    assert_eq!(users_with(&h, "ann@acme.com").await.len(), 1);

    // The same redirect and cookie again (a replay by whoever copied them): refused here.
    let (status, set, body) = flow.finish(&back.url, &back.cookie).await;
    assert_eq!(status, 400, "{body}");
    assert!(!set.contains("mg_user="), "{set}");

    // Hostile answers: an error text with markup and line breaks is shown escaped, on one line;
    // an oversized state is no state.
    let (_, _, cookie) = flow.start("idp", "").await;
    let hostile = format!(
        "{base}/auth/oidc/idp/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E%0D%0ASet-Cookie%3A%20x"
    );
    let (status, set, body) = flow.finish(&hostile, &cookie).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("localhost did not sign you in: access_denied (&lt;script&gt;alert(1)&lt;/script&gt;Set-Cookie: x)."),
        "{body}"
    );
    assert!(!body.contains("<script>") && !set.contains("x="), "{set}");
    let huge = format!("{base}/auth/oidc/idp/callback?code=c&state={}", "s".repeat(5000));
    assert_eq!(flow.finish(&huge, &cookie).await.0, 400);

    // An unknown provider, or one not open to agents, has no login.
    assert_eq!(flow.start("nope", "").await.0, 404);
    assert_eq!(flow.start("idp", "?for=agent").await.0, 404);
}

async fn the_provider_subject_not_its_address_names_the_account(backend: Backend) {
    if !oidc_provider::available() {
        return;
    }
    let provider =
        OidcProvider::start(&[claims("s1", "ann@acme.com", true), claims("s2", "bob@acme.com", true)]);
    let dir = tempfile::tempdir().unwrap();
    let extra = oidc_provider::config("idp", &provider.issuer, &["users"], &dir.path().join("s"));
    let Some((h, base)) = serve(backend, &extra).await else { return };
    let flow = Flow::new(&base);
    let sign_in = async |sub: &str| {
        let back = flow.authorize("idp", sub).await;
        flow.finish(&back.url, &back.cookie).await
    };
    assert_eq!(sign_in("s1").await.0, 200);
    assert_eq!(sign_in("s2").await.0, 200);
    let ann = users_with(&h, "ann@acme.com").await[0].0;
    let bob = users_with(&h, "bob@acme.com").await[0].0;

    // s1 now says it is Bob: it still signs in as Ann (the link is by subject), never as Bob.
    provider.set_user("s1", "bob@acme.com", true);
    let (status, set, _) = sign_in("s1").await;
    assert_eq!(status, 200);
    let cookie =
        set.lines().find(|l| l.starts_with("mg_user=")).unwrap().split(';').next().unwrap().to_string();
    let page = flow.http.get(format!("{base}/tickets")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let linked = h
        .read(|tx| {
            tx.query_all("SELECT subject, user_id FROM identities ORDER BY subject", &[], |r| {
                Ok((r.string(0)?, r.i64(1)?))
            })
        })
        .await;
    assert_eq!(linked, vec![("s1".to_string(), ann), ("s2".to_string(), bob)]);

    // A new subject with Ann's address: her account is linked to s1 already, so it is refused.
    provider.set_user("s3", "ann@acme.com", true);
    let (status, _, body) = sign_in("s3").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("already linked"), "{body}");

    // A locked account stays locked, whoever vouches for it.
    h.write(|tx| tx.execute("UPDATE users SET status = 'disabled' WHERE email = 'bob@acme.com'", &[])).await;
    let (status, set, body) = sign_in("s2").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("This account is locked") && !set.contains("mg_user="), "{body}");
}

async fn keys_are_fetched_again_when_the_provider_rotates_them(backend: Backend) {
    if !oidc_provider::available() {
        return;
    }
    let users = [claims("ann", "ann@acme.com", true)];
    let first = OidcProvider::start(&users);
    let (port, issuer) = (first.port, first.issuer.clone());
    let dir = tempfile::tempdir().unwrap();
    let extra = oidc_provider::config("idp", &issuer, &["users"], &dir.path().join("s"));
    let Some((_h, base)) = serve(backend, &extra).await else { return };
    let flow = Flow::new(&base);
    let back = flow.authorize("idp", "ann").await;
    assert_eq!(flow.finish(&back.url, &back.cookie).await.0, 200);
    // The same issuer comes back with a new key (another `kid`): the cached keys do not know it.
    drop(first);
    let second = OidcProvider::start_on(port, &users);
    let back = flow.authorize("idp", "ann").await;
    let (status, _, body) = flow.finish(&back.url, &back.cookie).await;
    assert_eq!(status, 200, "{body}");
    let jwks = second.log().matches("GET /jwks").count();
    assert_eq!(
        jwks,
        1,
        "the keys were fetched again, once, and the metadata came from the cache:\n{}",
        second.log()
    );
    assert!(!second.log().contains("openid-configuration"), "{}", second.log());
}

async fn private_mode_signs_in_existing_accounts_only(backend: Backend) {
    if !oidc_provider::available() {
        return;
    }
    let provider = OidcProvider::start(&[
        claims("ann", "ann@acme.com", true),
        claims("zed", "zed@elsewhere.example", true),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut extra = oidc_provider::config("idp", &provider.issuer, &["users"], &dir.path().join("s"));
    extra.push_str("[registration]\nmethod = \"private\"\n");
    let Some((h, base)) = serve(backend, &extra).await else { return };
    // Ann is known from mail only (a guest): in private mode that is no account either.
    h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "On fire.").build()).await;
    let flow = Flow::new(&base);
    for sub in ["zed", "ann"] {
        let back = flow.authorize("idp", sub).await;
        let (status, _, body) = flow.finish(&back.url, &back.cookie).await;
        assert_eq!(status, 403, "{sub}: {body}");
        assert!(body.contains("accounts here are made by our staff"), "{body}");
    }
    assert!(users_with(&h, "zed@elsewhere.example").await.is_empty(), "no account made");
    assert_eq!(users_with(&h, "ann@acme.com").await[0].1, "guest");

    // Once staff made her account, the provider signs her in.
    h.write(|tx| tx.execute("UPDATE users SET status = 'registered' WHERE email = 'ann@acme.com'", &[]))
        .await;
    let back = flow.authorize("idp", "ann").await;
    assert_eq!(flow.finish(&back.url, &back.cookie).await.0, 200);
}

async fn a_provider_over_tls_is_trusted_through_its_ca_file(backend: Backend) {
    if !oidc_provider::available() {
        return;
    }
    let ca = std::env::var("MG_IMAP_CA").ok();
    if !common::require(
        ca.is_some(),
        "the test services' CA: MG_IMAP_CA is not set",
        "scripts/test.sh sets it",
    ) {
        return;
    }
    let ca = std::path::PathBuf::from(ca.unwrap());
    let provider = OidcProvider::start_tls(&[claims("ann", "ann@acme.com", true)], &ca);
    let dir = tempfile::tempdir().unwrap();
    let mut extra = oidc_provider::config("trusted", &provider.issuer, &["users"], &dir.path().join("s"));
    extra.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
    extra.push_str(&oidc_provider::config("untrusted", &provider.issuer, &["users"], &dir.path().join("u")));
    let Some((_h, base)) = serve(backend, &extra).await else { return };
    let flow = Flow::new(&base);
    let (status, location, _) = flow.start("trusted", "").await;
    assert_eq!(status, 303, "{}", provider.log());
    assert!(location.starts_with(&format!("{}/oauth2/authorize?", provider.issuer)), "{location}");
    for (name, value) in [("response_type", "code"), ("code_challenge_method", "S256")] {
        assert!(location.contains(&format!("{name}={value}")), "{location}");
    }
    for name in ["state=", "nonce=", "code_challenge=", "scope=openid"] {
        assert!(location.contains(name), "{name} in {location}");
    }
    let (status, _, _) = flow.start("untrusted", "").await;
    assert_eq!(status, 503, "without its CA the provider's certificate is refused");
}

on_both_backends!(
    customers_sign_in_with_the_provider,
    agents_sign_in_with_the_provider_then_totp,
    a_callback_works_once_and_only_with_its_state,
    the_provider_subject_not_its_address_names_the_account,
    keys_are_fetched_again_when_the_provider_rotates_them,
    private_mode_signs_in_existing_accounts_only,
    a_provider_over_tls_is_trusted_through_its_ca_file,
);
