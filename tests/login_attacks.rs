//! The attacks of issue 13 on sign-in, sign-up and the console's account pages, replayed over real
//! HTTP against the real router on both backends: parallel guesses racing the lockout, a stranger
//! locking an owner out, aliases multiplying the budget, everyone behind the proxy sharing one
//! address, pre-registration of someone else's mailbox, attacker text in mail to unverified
//! addresses, a GET that wrote an enrollment, and `/access` limits split by spelling.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::http::{Client, Page, encode, request_from, serve};
use common::{Backend, Harness, Mail};
use mailgate::accounts::Accounts;

on_both_backends!(
    parallel_guesses_cannot_outrun_the_lockout,
    a_strangers_failures_do_not_lock_the_owner_out,
    an_agents_aliases_share_one_budget,
    behind_the_trusted_proxy_each_visitor_counts_alone,
    the_per_account_limit_spares_the_owners_own_clients,
    a_pre_registered_password_never_signs_anyone_in,
    mail_to_an_unverified_address_carries_no_requester_text,
    viewing_the_2fa_page_writes_nothing,
    access_limits_count_an_address_however_it_is_written,
);

const GOOD: &str = "correct horse battery";

async fn site(backend: Backend, extra: &str) -> Option<(Harness, SocketAddr, Accounts)> {
    let h = Harness::with_config(backend, extra).await?;
    let address = serve(&h).await;
    let app = mailgate::app::open_with_clock(&h.config, Arc::new(h.clock.clone())).await.unwrap();
    let accounts = Accounts::new(&h.config, app);
    Some((h, address, accounts))
}

/// The `link` path of the newest queued `template` mail to `to`.
async fn mailed_link(h: &Harness, template: &'static str, to: &str) -> String {
    let context = outbox_context(h, template, to).await;
    let link = context["link"].as_str().unwrap().to_string();
    link.split_once("://").unwrap().1.split_once('/').map(|(_, path)| format!("/{path}")).unwrap()
}

async fn outbox_context(h: &Harness, template: &'static str, to: &str) -> serde_json::Value {
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
    serde_json::from_str(&context).unwrap()
}

/// Signs `email` up and confirms it with `GOOD` chosen on the link.
async fn signed_up(h: &Harness, address: SocketAddr, email: &str) {
    let mut client = Client::new(address);
    // An old form's password field is ignored: the password is chosen on the link.
    let form = format!("name=Ann&email={}&password={}", encode(email), encode(GOOD));
    client.submit("/register", "/register", &form).await;
    let link = mailed_link(h, "account_confirm", email).await;
    let done = client.submit(&link, &link, &format!("password={}", encode(GOOD))).await;
    assert_eq!(done.status, 303, "{}", done.body);
}

/// A visitor at `source` (a loopback address) that may claim to be forwarded for `forwarded_for`:
/// fetches the form at `page` for its CSRF cookie and token, then posts `form` to it.
struct Visitor {
    source: IpAddr,
    forwarded_for: Option<String>,
}

impl Visitor {
    fn at(source: &str) -> Visitor {
        Visitor { source: source.parse().unwrap(), forwarded_for: None }
    }

    fn forwarded(source: &str, client: &str) -> Visitor {
        Visitor { source: source.parse().unwrap(), forwarded_for: Some(client.to_string()) }
    }

    fn extra_headers(&self) -> String {
        self.forwarded_for.as_ref().map(|c| format!("X-Forwarded-For: {c}\r\n")).unwrap_or_default()
    }

    /// The CSRF cookie pair and token for a fresh visit of `page`.
    async fn form(&self, server: SocketAddr, page: &str) -> (String, String) {
        let head =
            format!("GET {page} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n{}\r\n", self.extra_headers());
        let shown = request_from(self.source, server, &head).await;
        let cookie = shown.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
        (cookie, shown.csrf())
    }

    async fn post(&self, server: SocketAddr, path: &str, cookie: &str, form: &str) -> Page {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\nCookie: {cookie}\r\n{}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            self.extra_headers(),
            form.len()
        );
        request_from(self.source, server, &head).await
    }

    /// Signs in on the portal (`/login`, user realm).
    async fn login(&self, server: SocketAddr, email: &str, password: &str) -> Page {
        let (cookie, csrf) = self.form(server, "/login").await;
        let form = format!("email={}&password={}&csrf={}", encode(email), encode(password), encode(&csrf));
        self.post(server, "/login", &cookie, &form).await
    }

    /// Signs in on the console (`/agent/login`).
    async fn agent_login(&self, server: SocketAddr, login: &str, password: &str) -> Page {
        let (cookie, csrf) = self.form(server, "/agent/login").await;
        let form = format!("login={}&password={}&csrf={}", encode(login), encode(password), encode(&csrf));
        self.post(server, "/agent/login", &cookie, &form).await
    }
}

async fn parallel_guesses_cannot_outrun_the_lockout(backend: Backend) {
    let Some((h, first, _)) = site(backend, "").await else { return };
    // Two daemons on one database: the counts are shared.
    let second = serve(&h).await;
    signed_up(&h, first, "ann@acme.com").await;
    let attacker = Arc::new(Visitor::at("127.0.0.9"));
    // Every request has its form first, so the posts themselves go out together.
    let mut forms = Vec::new();
    for n in 0..40 {
        let server = if n % 2 == 0 { first } else { second };
        forms.push((server, attacker.form(server, "/login").await));
    }
    let correct = forms.pop().unwrap();
    let guesses: Vec<_> = forms
        .into_iter()
        .map(|(server, (cookie, csrf))| {
            let attacker = attacker.clone();
            tokio::spawn(async move {
                let form = format!("email=ann%40acme.com&password=wrong+guess&csrf={}", encode(&csrf));
                attacker.post(server, "/login", &cookie, &form).await.status
            })
        })
        .collect();
    // The right password, sent last, while the guesses are still being checked.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (server, (cookie, csrf)) = correct;
    let last = attacker
        .post(
            server,
            "/login",
            &cookie,
            &format!("email=ann%40acme.com&password={}&csrf={}", encode(GOOD), csrf),
        )
        .await;
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let judged = statuses.iter().filter(|s| **s != 429).count();
    assert!(judged <= 5, "at most auth.max_failed_logins guesses are judged: {statuses:?}");
    assert_eq!(last.status, 429, "the lockout holds for the right password sent last: {}", last.body);
    assert!(last.header("set-cookie").is_none_or(|c| !c.starts_with("mg_user=")), "no session");
    assert_eq!(
        h.scalar_i64("SELECT COUNT(*) FROM sessions WHERE user_id IS NOT NULL").await,
        1,
        "the sign-up's"
    );
}

async fn a_strangers_failures_do_not_lock_the_owner_out(backend: Backend) {
    let Some((h, server, _)) = site(backend, "").await else { return };
    signed_up(&h, server, "ann@acme.com").await;
    let stranger = Visitor::at("127.0.0.3");
    for _ in 0..8 {
        stranger.login(server, "ann@acme.com", "guessing").await;
    }
    assert_eq!(stranger.login(server, "ann@acme.com", GOOD).await.status, 429, "the stranger is locked");
    let owner = Visitor::at("127.0.0.4").login(server, "ann@acme.com", GOOD).await;
    assert_eq!((owner.status, owner.location()), (303, "/tickets"), "the owner is not: {}", owner.body);
}

async fn an_agents_aliases_share_one_budget(backend: Backend) {
    let Some((_h, server, accounts)) = site(backend, "").await else { return };
    accounts.set_agent_password("bob", GOOD).await.unwrap();
    let attacker = Visitor::at("127.0.0.5");
    for login in ["bob@example.com", "bob.agent@example.com", "BOB@example.com", "bob", " <bob@example.com> "]
    {
        let page = attacker.agent_login(server, login, "wrong password").await;
        assert!(page.status == 401 || page.status == 429, "{login}: {}", page.status);
    }
    for login in ["bob", "bob@example.com", "bob.agent@example.com"] {
        let page = attacker.agent_login(server, login, GOOD).await;
        assert_eq!(page.status, 429, "{login}: one agent, one budget, whatever name is typed");
    }
}

async fn behind_the_trusted_proxy_each_visitor_counts_alone(backend: Backend) {
    let extra = "[web]\ntrusted_proxies = [\"127.0.0.2\"]\n[auth]\nmax_failed_logins_per_client = 10\n";
    let Some((h, server, _)) = site(backend, extra).await else { return };
    signed_up(&h, server, "ann@acme.com").await;
    // An attacker behind the proxy fails for many addresses: they lock themselves only.
    let attacker = Visitor::forwarded("127.0.0.2", "203.0.113.9");
    let mut last = 0;
    for n in 0..12 {
        last = attacker.login(server, &format!("user{n}@acme.com"), "x").await.status;
    }
    assert_eq!(last, 429, "the attacker's own address is limited");
    let ann = Visitor::forwarded("127.0.0.2", "198.51.100.20").login(server, "ann@acme.com", GOOD).await;
    assert_eq!((ann.status, ann.location()), (303, "/tickets"), "another visitor of the proxy: {}", ann.body);

    // Anyone else's X-Forwarded-For is their own word: ignored.
    let mut last = 0;
    for n in 0..12 {
        let spoofer = Visitor::forwarded("127.0.0.6", &format!("192.0.2.{n}"));
        last = spoofer.login(server, &format!("other{n}@acme.com"), "x").await.status;
    }
    assert_eq!(last, 429, "a forged header does not make a new client");
}

async fn the_per_account_limit_spares_the_owners_own_clients(backend: Backend) {
    let extra = "[auth]\nmax_failed_logins_per_account = 8\n";
    let Some((h, server, _)) = site(backend, extra).await else { return };
    signed_up(&h, server, "ann@acme.com").await;
    let home = Visitor::at("127.0.0.4");
    assert_eq!(home.login(server, "ann@acme.com", GOOD).await.status, 303, "ann signs in from home once");
    // A distributed guess: three clients, three tries each, under the per-client-and-account limit.
    for n in 1..=3 {
        let stranger = Visitor::at(&format!("127.0.1.{n}"));
        for _ in 0..3 {
            stranger.login(server, "ann@acme.com", "guessing").await;
        }
    }
    let new_client = Visitor::at("127.0.1.9").login(server, "ann@acme.com", GOOD).await;
    assert_eq!(new_client.status, 429, "the account is locked for clients it never used");
    let again = home.login(server, "ann@acme.com", GOOD).await;
    assert_eq!((again.status, again.location()), (303, "/tickets"), "not from ann's own: {}", again.body);
}

async fn a_pre_registered_password_never_signs_anyone_in(backend: Backend) {
    let Some((h, server, _)) = site(backend, "").await else { return };
    // The attacker signs the victim's address up with a password of theirs (an old form's field).
    let mut attacker = Client::new(server);
    let form = "name=Vic&email=victim%40acme.com&password=attackers+known+password";
    assert_eq!(attacker.submit("/register", "/register", form).await.status, 200);
    // The victim follows the link in their mail: the page asks them for a password.
    let link = mailed_link(&h, "account_confirm", "victim@acme.com").await;
    let mut victim = Client::new(server);
    let page = victim.get(&link).await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    let done = victim.post(&link, &format!("password={}&csrf={}", encode(GOOD), encode(&page.csrf()))).await;
    assert_eq!((done.status, done.location()), (303, "/tickets"), "{}", done.body);
    // The attacker's password opens nothing; the victim's does.
    let tried = Visitor::at("127.0.0.7").login(server, "victim@acme.com", "attackers known password").await;
    assert_eq!(tried.status, 401);
    assert_eq!(Visitor::at("127.0.0.8").login(server, "victim@acme.com", GOOD).await.status, 303);
    // A confirmation without a password is refused and spends nothing.
    let mut client = Client::new(server);
    client.submit("/register", "/register", "name=Zed&email=zed%40acme.com").await;
    let link = mailed_link(&h, "account_confirm", "zed@acme.com").await;
    assert_eq!(client.submit(&link, &link, "").await.status, 400);
    assert_eq!(
        h.strings("SELECT status FROM users WHERE email = $1", "zed@acme.com").await,
        Vec::<String>::new()
    );
}

async fn mail_to_an_unverified_address_carries_no_requester_text(backend: Backend) {
    let Some((h, server, _)) = site(backend, "").await else { return };
    let name =
        format!("Dear customer\r\nYour account is suspended: call +1 555 0100 now {}", "x".repeat(150));
    let form = format!("name={}&email=target%40elsewhere.example", encode(&name));
    assert_eq!(Client::new(server).submit("/register", "/register", &form).await.status, 200);
    let context = outbox_context(&h, "account_confirm", "target@elsewhere.example").await;
    let greeting = context["recipient"]["name"].as_str().unwrap();
    assert!(greeting.chars().count() <= 40 && !greeting.contains(['\r', '\n']), "{greeting:?}");

    // "You already have an account" greets the account's own name, not the form's.
    signed_up(&h, server, "ann@acme.com").await;
    let form = format!("name={}&email=ann%40acme.com", encode("Visit evil.example"));
    Client::new(server).submit("/register", "/register", &form).await;
    let context = outbox_context(&h, "account_exists", "ann@acme.com").await;
    assert_eq!(context["recipient"]["name"], "Ann");

    // The guest auto-response: no quote of the body, no name, the subject cut to one short line.
    let subject = format!("Win a prize at evil.example {}", "y".repeat(200));
    let mail =
        Mail::new("Spoofed Name <victim@elsewhere.example>", &subject, "Click http://evil.example/now");
    h.pipe(&mail.build()).await;
    let context = outbox_context(&h, "new_ticket_auto_response", "victim@elsewhere.example").await;
    assert!(context["message"]["entry_id"].is_null(), "nothing of the body is quoted: {context}");
    assert_eq!(context["message"]["author_name"], "");
    assert!(!context.to_string().contains("Spoofed Name"), "{context}");
    let shown = context["ticket"]["subject"].as_str().unwrap();
    assert!(shown.chars().count() <= 80 && shown.starts_with("Win a prize"), "{shown:?}");
}

async fn viewing_the_2fa_page_writes_nothing(backend: Backend) {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("totp.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    let extra = format!("[auth]\ntotp_key_file = \"{}\"\n", key.display());
    let Some((h, server, accounts)) = site(backend, &extra).await else { return };
    accounts.set_agent_password("alice", GOOD).await.unwrap();
    let mut agent = Client::new(server);
    let form = format!("login=alice&password={}", encode(GOOD));
    assert_eq!(agent.submit("/agent/login", "/agent/login", &form).await.location(), "/agent");
    // A GET (an image in a formatted mail could make one) shows the enrollment, writes nothing.
    let first = agent.get("/agent/2fa").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM totp").await, 0, "a GET wrote an enrollment");
    let again = agent.get("/agent/2fa").await;
    assert_eq!(secret_of(&first), secret_of(&again), "a reload shows the same secret");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM totp").await, 0);
    // The POST with a valid code stores it, enabled.
    let code = mailgate::auth::totp::code_at(&secret_of(&first), common::T0);
    let done = agent.post("/agent/2fa", &format!("code={code}&csrf={}", first.csrf())).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM totp WHERE enabled = 1").await, 1);
}

fn secret_of(page: &Page) -> Vec<u8> {
    let at = page.body.find("class=\"secret\">").unwrap() + "class=\"secret\">".len();
    let text = &page.body[at..at + page.body[at..].find('<').unwrap()];
    data_encoding::BASE32_NOPAD.decode(text.trim().trim_end_matches('=').as_bytes()).unwrap()
}

async fn access_limits_count_an_address_however_it_is_written(backend: Backend) {
    let Some((_h, server, _)) = site(backend, "").await else { return };
    // A burst of 3 per address; each spelling from its own client (5 per client).
    let spellings = ["eve@acme.com", "<EVE@acme.com>", " Eve@Acme.com ", "<eve@ACME.COM>"];
    let mut statuses = Vec::new();
    for (n, email) in spellings.iter().enumerate() {
        let visitor = Visitor::at(&format!("127.0.2.{}", n + 1));
        let (cookie, csrf) = visitor.form(server, "/access").await;
        let form = format!("number=123456&email={}&csrf={}", encode(email), encode(&csrf));
        statuses.push(visitor.post(server, "/access", &cookie, &form).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "one address, however written");
}
