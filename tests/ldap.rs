//! Sign-in through `[[ldap]]` against a real OpenLDAP `slapd` (a private instance per test,
//! `common::ldap_server`), on both backends: bind as the user and search-then-bind, StartTLS and
//! ldaps with the CA file, wrong passwords and unknown logins, injection in the login, a directory
//! that is down or silent (a clear answer, never a weaker check), the provider order, accounts
//! created at first sign-in per registration mode with the mapped attributes, and agents through
//! the directory still owing their second factor.

mod common;

use std::net::IpAddr;
use std::sync::Arc;

use common::http::{Client, encode, serve};
use common::ldap_server::{BASE, LdapServer, SERVICE_DN};
use common::{Backend, Harness, Mail};
use mailgate::accounts::{Accounts, Realm, SignIn};
use mailgate::store::sessions::{Holder, Stage};

on_both_backends!(
    bind_as_user_creates_the_account_with_the_directorys_attributes,
    search_then_bind_over_starttls_with_the_ca_file,
    ldaps_with_the_ca_file_and_without_it,
    wrong_passwords_and_unknown_logins_are_refused_alike,
    injection_in_the_login_finds_nobody,
    a_directory_that_is_down_or_silent_is_said_so_and_nothing_weaker_is_tried,
    local_passwords_stay_local_and_directories_never_take_them_over,
    first_sign_in_follows_the_registration_mode,
    agents_come_only_from_the_configuration_and_still_owe_their_second_factor,
    the_sign_in_pages_say_when_the_directory_is_down,
    directories_are_asked_in_order_and_one_that_is_down_stops_the_line,
    a_directory_accounts_password_is_never_set_here,
);

const CLIENT: &str = "192.0.2.7";

/// A user form with a `department` text field, which the directory fills in.
const USER_FORM: &str = r#"
[[forms]]
key = "customer"
applies_to = "user"
fields = [
  { key = "department", type = "text" },
  { key = "notes", type = "text" },
]
"#;

fn client() -> IpAddr {
    CLIENT.parse().unwrap()
}

/// `[[ldap]]` binding as the user on `url`, for `serves`, plus `more` lines in the table.
fn bind_as_user(url: &str, serves: &str, more: &str) -> String {
    format!(
        "[[ldap]]\nname = \"corp\"\nurl = \"{url}\"\nbind_dn_template = \"uid={{user}},ou=people,{BASE}\"\n\
         for = {serves}\ntimeout_seconds = 2\n{more}\n[ldap.attributes]\nphone = \"telephoneNumber\"\n\
         custom = {{ department = \"departmentNumber\" }}\n"
    )
}

/// `[[ldap]]` searching with the service account on `url`, for `serves`, plus `more`.
fn search_then_bind(server: &LdapServer, url: &str, serves: &str, more: &str) -> String {
    format!(
        "[[ldap]]\nname = \"corp\"\nurl = \"{url}\"\nservice_bind_dn = \"{SERVICE_DN}\"\n\
         service_password_file = \"{}\"\nsearch_base = \"{BASE}\"\nsearch_filter = \"(mail={{email}})\"\n\
         for = {serves}\ntimeout_seconds = 2\n{more}\n[ldap.attributes]\nphone = \"telephoneNumber\"\n\
         custom = {{ department = \"departmentNumber\" }}\n",
        server.service_password_file().display()
    )
}

async fn accounts_for(backend: Backend, extra: &str) -> Option<(Harness, Accounts)> {
    let h = Harness::with_config(backend, extra).await?;
    let app = mailgate::app::open_with_clock(&h.config, Arc::new(h.clock.clone())).await.unwrap();
    let accounts = Accounts::new(&h.config, app);
    Some((h, accounts))
}

async fn sign_in(accounts: &Accounts, realm: Realm, login: &str, password: &str) -> SignIn {
    accounts.sign_in(realm, login, password, client()).await.unwrap()
}

/// `(name, phone, custom, status, auth_source)` of the user with `email`.
async fn user_row(h: &Harness, email: &str) -> Option<(String, String, String, String, Option<String>)> {
    let email = email.to_string();
    h.read(move |tx| {
        tx.query_opt(
            "SELECT name, phone, custom, status, auth_source FROM users WHERE email = $1",
            mailgate::params![email.as_str()],
            |r| Ok((r.string(0)?, r.string(1)?, r.string(2)?, r.string(3)?, r.opt_string(4)?)),
        )
    })
    .await
}

/// Users besides the configured primary contact boss@acme.com (made by the directory sync).
async fn user_count(h: &Harness) -> i64 {
    h.scalar_i64("SELECT COUNT(*) FROM users WHERE email <> 'boss@acme.com'").await
}

async fn bind_as_user_creates_the_account_with_the_directorys_attributes(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    let extra = format!("{USER_FORM}{}", bind_as_user(&server.url(), "[\"users\"]", ""));
    let Some((h, accounts)) = accounts_for(backend, &extra).await else { return };

    let signed = sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await;
    let SignIn::Granted { holder: Holder::User(user), stage: Stage::Full } = signed else {
        panic!("carol signs in: {signed:?}")
    };
    let (name, phone, custom, status, source) = user_row(&h, "carol@customer.test").await.expect("created");
    assert_eq!((name.as_str(), phone.as_str()), ("Carol Customer", "+1 555 0100"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&custom).unwrap(),
        serde_json::json!({"department": "Sales"})
    );
    assert_eq!((status.as_str(), source.as_deref()), ("registered", Some("ldap:corp")));

    // Each sign-in writes the directory's name, phone and mapped fields again; fields it does not
    // map keep their values.
    h.write(move |tx| {
        tx.execute(
            "UPDATE users SET name = 'Renamed', phone = '', custom = '{\"department\":\"Old\",\"notes\":\"kept\"}' WHERE id = $1",
            mailgate::params![user.0],
        )
    })
    .await;
    let again = sign_in(&accounts, Realm::User, "CAROL ", "carol-directory-pw").await;
    assert!(matches!(again, SignIn::Granted { holder: Holder::User(same), .. } if same == user), "{again:?}");
    let (name, phone, custom, ..) = user_row(&h, "carol@customer.test").await.unwrap();
    assert_eq!((name.as_str(), phone.as_str()), ("Carol Customer", "+1 555 0100"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&custom).unwrap(),
        serde_json::json!({"department": "Sales", "notes": "kept"})
    );
    assert_eq!(user_count(&h).await, 1, "one account, found again by its address");
}

async fn search_then_bind_over_starttls_with_the_ca_file(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    let more = format!("starttls = true\nca_file = \"{}\"", server.ca().display());
    // StartTLS to the name on the certificate.
    let url = format!("ldap://localhost:{}", server.port);
    let extra = format!("{USER_FORM}{}", search_then_bind(&server, &url, "[\"users\"]", &more));
    let Some((h, accounts)) = accounts_for(backend, &extra).await else { return };
    let signed = sign_in(&accounts, Realm::User, "carol@customer.test", "carol-directory-pw").await;
    assert!(matches!(signed, SignIn::Granted { holder: Holder::User(_), .. }), "{signed:?}");
    let (name, _, custom, _, source) = user_row(&h, "carol@customer.test").await.unwrap();
    assert_eq!((name.as_str(), source.as_deref()), ("Carol Customer", Some("ldap:corp")));
    assert!(custom.contains("Sales"), "{custom}");
    let wrong = sign_in(&accounts, Realm::User, "carol@customer.test", "not-her-password").await;
    assert_eq!(wrong, SignIn::Denied);
}

async fn ldaps_with_the_ca_file_and_without_it(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    let more = format!("ca_file = \"{}\"", server.ca().display());
    let extra = bind_as_user(&server.tls_url(), "[\"users\"]", &more);
    let Some((_h, accounts)) = accounts_for(backend, &format!("{USER_FORM}{extra}")).await else { return };
    let signed = sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await;
    assert!(matches!(signed, SignIn::Granted { .. }), "{signed:?}");

    // The same server without its CA: the certificate is not trusted, so nothing is sent to it and
    // the directory counts as not answering.
    let untrusted = bind_as_user(&server.tls_url(), "[\"users\"]", "");
    let Some((h, accounts)) = accounts_for(backend, &format!("{USER_FORM}{untrusted}")).await else { return };
    assert_eq!(sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await, SignIn::DirectoryDown);
    assert_eq!(user_count(&h).await, 0);
}

async fn wrong_passwords_and_unknown_logins_are_refused_alike(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    for mode in ["bind", "search"] {
        let ldap = match mode {
            "bind" => bind_as_user(&server.url(), "[\"users\"]", ""),
            _ => search_then_bind(&server, &server.url(), "[\"users\"]", ""),
        };
        let Some((h, accounts)) = accounts_for(backend, &format!("{USER_FORM}{ldap}")).await else { return };
        let login = if mode == "bind" { "carol" } else { "carol@customer.test" };
        for (who, password) in
            [(login, "wrong"), ("nobody", "carol-directory-pw"), ("nobody@customer.test", "x")]
        {
            assert_eq!(sign_in(&accounts, Realm::User, who, password).await, SignIn::Denied, "{mode}: {who}");
        }
        // An empty password would be an unauthenticated bind, which servers accept.
        assert_eq!(
            sign_in(&accounts, Realm::User, login, "").await,
            SignIn::Denied,
            "{mode}: empty password"
        );
        assert_eq!(user_count(&h).await, 0, "{mode}: nobody was created");
        // The throttle counts directory sign-ins like local ones: the fifth failure locks.
        for _ in 0..2 {
            assert_eq!(sign_in(&accounts, Realm::User, login, "wrong").await, SignIn::Denied);
        }
        assert_eq!(sign_in(&accounts, Realm::User, login, "wrong").await, SignIn::Throttled, "{mode}");
        assert_eq!(
            sign_in(&accounts, Realm::User, login, "carol-directory-pw").await,
            SignIn::Throttled,
            "{mode}: locked, even with the right password"
        );
    }
}

async fn injection_in_the_login_finds_nobody(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    let search = search_then_bind(&server, &server.url(), "[\"users\"]", "");
    let Some((h, accounts)) = accounts_for(backend, &format!("{USER_FORM}{search}")).await else { return };
    // Unescaped, each of these would widen the filter to carol (or everyone) and bind as her.
    for login in [
        "*",
        "carol*",
        "*@customer.test",
        "carol@customer.test)(|(mail=*",
        "*)(uid=*))(|(uid=*",
        "carol@customer.test\\",
    ] {
        assert_eq!(
            sign_in(&accounts, Realm::User, login, "carol-directory-pw").await,
            SignIn::Denied,
            "filter injection {login:?}"
        );
    }
    // Too long to be anyone's login: refused before anything is sent.
    let long = format!("{}@customer.test", "a".repeat(10_000));
    assert_eq!(sign_in(&accounts, Realm::User, &long, "carol-directory-pw").await, SignIn::Denied);
    // Two entries with one address: ambiguous, so nobody.
    assert_eq!(
        sign_in(&accounts, Realm::User, "twin@customer.test", "twin-directory-pw").await,
        SignIn::Denied
    );
    assert_eq!(user_count(&h).await, 0);

    let bind = bind_as_user(&server.url(), "[\"users\"]", "");
    let Some((h, accounts)) = accounts_for(backend, &format!("{USER_FORM}{bind}")).await else { return };
    for login in
        ["carol,ou=people", "carol,ou=people,dc=example,dc=org", "*", "carol+cn=Carol Customer", " carol\0"]
    {
        assert_eq!(
            sign_in(&accounts, Realm::User, login, "carol-directory-pw").await,
            SignIn::Denied,
            "DN {login:?}"
        );
    }
    assert_eq!(user_count(&h).await, 0);
}

async fn a_directory_that_is_down_or_silent_is_said_so_and_nothing_weaker_is_tried(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    // First, carol's account comes from the directory; then she also gets a local password (a
    // reset, an old import): it must never be tried in the directory's place.
    let extra = format!("{USER_FORM}{}", bind_as_user(&server.url(), "[\"users\"]", ""));
    let Some((h, accounts)) = accounts_for(backend, &extra).await else { return };
    assert!(matches!(
        sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await,
        SignIn::Granted { .. }
    ));
    let local_hash = mailgate::auth::password::PasswordPolicy::default().hash("a local password 77").unwrap();
    h.write(move |tx| {
        tx.execute(
            "UPDATE users SET password_hash = $1 WHERE email = 'carol@customer.test'",
            mailgate::params![local_hash.as_str()],
        )
    })
    .await;
    let port = server.port;
    drop(server);

    let down = format!("{USER_FORM}{}", bind_as_user(&format!("ldap://127.0.0.1:{port}"), "[\"users\"]", ""));
    let config = common::test_config(&h.db, &down);
    let app = mailgate::app::open_with_clock(&config, Arc::new(h.clock.clone())).await.unwrap();
    let accounts = Accounts::new(&config, app);
    for (login, password) in [
        ("carol", "carol-directory-pw"),
        ("carol@customer.test", "a local password 77"),
        ("someone-new", "whatever-password"),
    ] {
        assert_eq!(sign_in(&accounts, Realm::User, login, password).await, SignIn::DirectoryDown, "{login}");
    }
    // Not judged, so not counted: six more attempts are still "down", never "too many".
    for _ in 0..6 {
        assert_eq!(sign_in(&accounts, Realm::User, "carol", "x").await, SignIn::DirectoryDown);
    }

    // A server that takes the connection and never answers: the timeout (1 s here) ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let quiet = bind_as_user(&url, "[\"users\"]", "").replace("timeout_seconds = 2", "timeout_seconds = 1");
    let config = common::test_config(&h.db, &format!("{USER_FORM}{quiet}"));
    let app = mailgate::app::open_with_clock(&config, Arc::new(h.clock.clone())).await.unwrap();
    let accounts = Accounts::new(&config, app);
    assert_eq!(sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await, SignIn::DirectoryDown);
    drop(silent);
}

async fn local_passwords_stay_local_and_directories_never_take_them_over(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    let extra = format!("{USER_FORM}{}", bind_as_user(&server.url(), "[\"users\", \"agents\"]", ""));
    let Some((h, accounts)) = accounts_for(backend, &extra).await else { return };
    // boss@acme.com has a local password; the directory's mallory has that address as her mail.
    let boss_hash =
        mailgate::auth::password::PasswordPolicy::default().hash("boss local password 1").unwrap();
    h.pipe(&Mail::new("Boss <boss@acme.com>", "Hello", "Hi.").build()).await;
    h.write(move |tx| {
        tx.execute(
            "UPDATE users SET password_hash = $1, status = 'registered' WHERE email = 'boss@acme.com'",
            mailgate::params![boss_hash.as_str()],
        )
    })
    .await;
    assert_eq!(
        sign_in(&accounts, Realm::User, "mallory", "mallory-directory-pw").await,
        SignIn::Denied,
        "a directory entry cannot take over an account secured by its own password"
    );
    let (_, _, _, _, source) = user_row(&h, "boss@acme.com").await.unwrap();
    assert_eq!(source, None);
    assert!(matches!(
        sign_in(&accounts, Realm::User, "boss@acme.com", "boss local password 1").await,
        SignIn::Granted { .. }
    ));
    // The local password is checked here alone: it is never sent to the directory.
    assert_eq!(
        sign_in(&accounts, Realm::User, "boss@acme.com", "mallory-directory-pw").await,
        SignIn::Denied
    );

    // Likewise an agent with a local password.
    accounts.set_agent_password("bob", "bob local password 1").await.unwrap();
    assert_eq!(sign_in(&accounts, Realm::Agent, "bob", "bob-directory-pw").await, SignIn::Denied);
    assert!(matches!(
        sign_in(&accounts, Realm::Agent, "bob", "bob local password 1").await,
        SignIn::Granted { .. }
    ));

    // ... and with the directory down, local accounts still sign in.
    let port = server.port;
    drop(server);
    let down = format!(
        "{USER_FORM}{}",
        bind_as_user(&format!("ldap://127.0.0.1:{port}"), "[\"users\", \"agents\"]", "")
    );
    let config = common::test_config(&h.db, &down);
    let app = mailgate::app::open_with_clock(&config, Arc::new(h.clock.clone())).await.unwrap();
    let accounts = Accounts::new(&config, app);
    assert!(matches!(
        sign_in(&accounts, Realm::User, "boss@acme.com", "boss local password 1").await,
        SignIn::Granted { .. }
    ));
}

async fn first_sign_in_follows_the_registration_mode(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    let ldap = bind_as_user(&server.url(), "[\"users\"]", "");
    for method in ["public", "private", "disabled"] {
        let extra = format!("[registration]\nmethod = \"{method}\"\n{USER_FORM}{ldap}");
        let Some((h, accounts)) = accounts_for(backend, &extra).await else { return };
        // dave is known from mail (a guest without a password); carol is new.
        h.pipe(&Mail::new("Dave <dave@customer.test>", "My printer", "It is on fire.").build()).await;
        let dave = sign_in(&accounts, Realm::User, "dave", "dave-directory-pw").await;
        let carol = sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await;
        let (_, _, _, dave_status, dave_source) = user_row(&h, "dave@customer.test").await.unwrap();
        if method == "disabled" {
            assert_eq!((dave, carol), (SignIn::Denied, SignIn::Denied), "disabled: no new accounts");
            assert_eq!((dave_status.as_str(), dave_source), ("guest", None));
            assert!(user_row(&h, "carol@customer.test").await.is_none());
            // An account already from the directory still signs in when registration closes.
            h.write(|tx| {
                tx.execute(
                    "UPDATE users SET status = 'registered', auth_source = 'ldap:corp' WHERE email = 'dave@customer.test'",
                    &[],
                )
            })
            .await;
            assert!(matches!(
                sign_in(&accounts, Realm::User, "dave", "dave-directory-pw").await,
                SignIn::Granted { .. }
            ));
        } else {
            assert!(matches!(dave, SignIn::Granted { .. }), "{method}: {dave:?}");
            assert!(matches!(carol, SignIn::Granted { .. }), "{method}: {carol:?}");
            assert_eq!(
                (dave_status.as_str(), dave_source.as_deref()),
                ("registered", Some("ldap:corp")),
                "{method}: linked"
            );
            let tickets = h.scalar_i64("SELECT COUNT(*) FROM tickets t JOIN users u ON u.id = t.user_id WHERE u.email = 'dave@customer.test'").await;
            assert_eq!(tickets, 1, "{method}: dave keeps the ticket his mail opened");
            assert_eq!(user_row(&h, "dave@customer.test").await.unwrap().0, "Dave From Mail");
        }
        // A locked user does not sign in through the directory either.
        h.write(|tx| {
            tx.execute("UPDATE users SET status = 'disabled' WHERE email = 'dave@customer.test'", &[])
        })
        .await;
        assert_eq!(
            sign_in(&accounts, Realm::User, "dave", "dave-directory-pw").await,
            SignIn::Denied,
            "{method}: locked"
        );
    }
}

async fn agents_come_only_from_the_configuration_and_still_owe_their_second_factor(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    let key_dir = tempfile::tempdir().unwrap();
    let key = key_dir.path().join("totp.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    let extra = format!(
        "[auth]\ntotp_key_file = \"{}\"\nrequire_agent_2fa = true\n{USER_FORM}{}",
        key.display(),
        bind_as_user(&server.url(), "[\"agents\"]", "")
    );
    let Some(h) = Harness::with_config(backend, &extra).await else { return };
    let app = mailgate::app::open_with_clock(&h.config, Arc::new(h.clock.clone())).await.unwrap();
    let accounts = Accounts::new(&h.config, app);

    // zed is in the directory but no [[agents]] entry names his address: never an agent.
    assert_eq!(sign_in(&accounts, Realm::Agent, "zed", "zed-directory-pw").await, SignIn::Denied);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM agents WHERE email = 'zed@nowhere.test'").await, 0);
    // A directory for agents only does not sign customers in.
    assert_eq!(sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await, SignIn::Denied);
    // alice is declared; her directory password signs her in, and 2FA is still owed.
    let alice = sign_in(&accounts, Realm::Agent, "alice", "alice-directory-pw").await;
    assert!(matches!(alice, SignIn::Granted { holder: Holder::Agent(_), stage: Stage::Enroll }), "{alice:?}");
    let source = h.strings("SELECT auth_source FROM agents WHERE key = $1", "alice").await;
    assert_eq!(source, ["ldap:corp"]);

    // Over the web: enrollment forced, then the code after the directory password.
    let address = serve(&h).await;
    let form = format!("login=alice&password={}", encode("alice-directory-pw"));
    let mut web = Client::new(address);
    let page = web.submit("/agent/login", "/agent/login", &form).await;
    assert_eq!(page.location(), "/agent/2fa", "enrollment is forced for directory agents too");
    let enroll = web.get("/agent/2fa").await;
    let secret = shown_secret(&enroll);
    let code = mailgate::auth::totp::code_at(&secret, common::T0);
    let done = web.post("/agent/2fa", &format!("code={code}&csrf={}", enroll.csrf())).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let mut again = Client::new(address);
    let page = again.submit("/agent/login", "/agent/login", &form).await;
    assert_eq!(page.location(), "/agent/login/code", "the directory password is the first factor only");
    let code_form = again.get("/agent/login/code").await;
    let next = mailgate::auth::totp::code_at(&secret, common::T0 + 30_000);
    let ok = again.post("/agent/login/code", &format!("code={next}&csrf={}", code_form.csrf())).await;
    assert_eq!((ok.status, ok.location()), (303, "/agent"), "{}", ok.body);
    // A wrong directory password on the console is the usual refusal.
    let mut wrong = Client::new(address);
    let page = wrong.submit("/agent/login", "/agent/login", "login=alice&password=nope").await;
    assert_eq!(page.status, 401);
}

/// The secret shown on the enrollment page.
fn shown_secret(page: &common::http::Page) -> Vec<u8> {
    let at = page.body.find("class=\"secret\">").unwrap() + "class=\"secret\">".len();
    let text = &page.body[at..at + page.body[at..].find('<').unwrap()];
    data_encoding::BASE32_NOPAD.decode(text.trim().trim_end_matches('=').as_bytes()).unwrap()
}

async fn the_sign_in_pages_say_when_the_directory_is_down(backend: Backend) {
    let port = common::ports::free_port();
    let extra = bind_as_user(&format!("ldap://127.0.0.1:{port}"), "[\"users\", \"agents\"]", "");
    let Some(h) = Harness::with_config(backend, &format!("{USER_FORM}{extra}")).await else { return };
    let address = serve(&h).await;
    let mut portal = Client::new(address);
    let page = portal.submit("/login", "/login", "email=carol&password=carol-directory-pw").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("The directory is not answering"), "{}", page.body);
    let mut console = Client::new(address);
    let page =
        console.submit("/agent/login", "/agent/login", "login=alice&password=alice-directory-pw").await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("The directory is not answering"), "{}", page.body);
}

#[test]
fn check_config_names_each_ldap_problem_by_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}/m.db\"\n\n[[ldap]]\nname = \"corp\"\nurl = \"ldap://ldap.example.org\"\n\
             service_bind_dn = \"cn=mailgate,dc=example,dc=org\"\nsearch_base = \"dc=example,dc=org\"\n\
             search_filter = \"(mail=*)\"\nfor = [\"users\"]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = common::site::run_with(&config, &["check-config"], b"");
    let said = common::site::text(&out);
    assert_eq!(common::site::code(&out), 78, "{said}");
    for expected in [
        "mailgate.toml:6: ldap[0].url: is plain ldap:// to \"ldap.example.org\"",
        "ldap[0].service_password_file: is required with service_bind_dn",
        "mailgate.toml:9: ldap[0].search_filter: \"(mail=*)\" has no {email}",
    ] {
        assert!(said.contains(expected), "{expected:?} in {said}");
    }
}

/// The portal's sign-in page in a real Chromium when the directory is down: the message in its
/// alert, at 1280 and 390 px, saved as `target/screenshots/login-directory-down-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_down_message_in_a_browser() {
    use common::browser::{Browser, shows};
    let port = common::ports::free_port();
    let extra = bind_as_user(&format!("ldap://127.0.0.1:{port}"), "[\"users\"]", "");
    let Some((_h, base)) = common::browser::site_with(&format!("{USER_FORM}{extra}")).await else { return };
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/login")).await;
    browser.fill("input[name=email]", "carol@customer.test").await;
    browser.fill("input[name=password]", "carol-directory-pw").await;
    browser.click("form.access button[type=submit]").await;
    assert!(shows(&browser, "The directory is not answering").await, "{}", browser.page_source().await);
    assert!(browser.text("[role=alert]").await.contains("Try again in a few minutes"));
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    for width in [1280, 390] {
        browser.set_viewport(width, 800).await;
        assert_eq!(browser.layout_problems().await, Vec::<String>::new(), "at {width}px");
        browser.screenshot(&dir.join(format!("login-directory-down-{width}.png"))).await;
    }
}

/// `mailgate ldap test NAME LOGIN`: the password on standard input, the entry and its mapped
/// attributes printed (never the password), and an exit code for each answer.
#[test]
fn ldap_test_command_shows_what_a_sign_in_would_get() {
    let Some(server) = LdapServer::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mailgate.toml");
    let more = format!("starttls = true\nca_file = \"{}\"", server.ca().display());
    let url = format!("ldap://localhost:{}", server.port);
    let write = |ldap: String| {
        let text = format!("[database]\nurl = \"sqlite://{}/m.db\"\n{USER_FORM}{ldap}", dir.path().display());
        std::fs::write(&config, text).unwrap();
    };
    write(search_then_bind(&server, &url, "[\"users\"]", &more));
    let run = |args: &[&str], stdin: &[u8]| common::site::run_with(&config, args, stdin);

    let out = run(&["ldap", "test", "corp", "carol@customer.test"], b"carol-directory-pw\n");
    let said = common::site::text(&out);
    assert_eq!(common::site::code(&out), 0, "{said}");
    assert!(said.contains("accepted: uid=carol,ou=people,dc=example,dc=org"), "{said}");
    assert!(said.contains("name (cn): Carol Customer"), "{said}");
    assert!(said.contains("department (departmentNumber): Sales"), "{said}");
    assert!(!said.contains("carol-directory-pw"), "the password is never printed");

    let out = run(&["ldap", "test", "corp", "carol@customer.test"], b"wrong\n");
    assert_eq!(common::site::code(&out), 67, "{}", common::site::text(&out));
    let out = run(&["ldap", "test", "corp", "carol@customer.test"], b"");
    assert_eq!(common::site::code(&out), 64, "no password: {}", common::site::text(&out));
    let out = run(&["ldap", "test", "other", "carol"], b"x\n");
    assert_eq!(common::site::code(&out), 78);
    assert!(common::site::text(&out).contains("configured: corp"));
    // Nothing listening: a plain directory on a port freed just now.
    write(bind_as_user(&format!("ldap://127.0.0.1:{}", common::ports::free_port()), "[\"users\"]", ""));
    let out = run(&["ldap", "test", "corp", "carol"], b"carol-directory-pw\n");
    assert_eq!(common::site::code(&out), 69, "{}", common::site::text(&out));
    assert!(
        common::site::text(&out).contains("directory corp: cannot connect"),
        "{}",
        common::site::text(&out)
    );
}

/// `bind_as_user` under another name, binding under `ou`.
fn named(name: &str, url: &str, ou: &str) -> String {
    bind_as_user(url, "[\"users\"]", "")
        .replace("name = \"corp\"", &format!("name = \"{name}\""))
        .replace("ou=people", ou)
}

async fn directories_are_asked_in_order_and_one_that_is_down_stops_the_line(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    // "staff" knows nobody (nobody lives under ou=services with a uid): carol goes on to "corp".
    let extra = format!(
        "{USER_FORM}{}{}",
        named("staff", &server.url(), "ou=services"),
        named("corp", &server.url(), "ou=people")
    );
    let Some((h, accounts)) = accounts_for(backend, &extra).await else { return };
    assert!(matches!(
        sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await,
        SignIn::Granted { .. }
    ));
    assert_eq!(user_row(&h, "carol@customer.test").await.unwrap().4.as_deref(), Some("ldap:corp"));

    // A first directory that is down stops the line, though the second would say yes.
    let dead = format!("ldap://127.0.0.1:{}", common::ports::free_port());
    let extra = format!(
        "{USER_FORM}{}{}",
        named("staff", &dead, "ou=people"),
        named("corp", &server.url(), "ou=people")
    );
    let Some((h, accounts)) = accounts_for(backend, &extra).await else { return };
    assert_eq!(sign_in(&accounts, Realm::User, "dave", "dave-directory-pw").await, SignIn::DirectoryDown);
    assert!(user_row(&h, "dave@customer.test").await.is_none());
    // carol's account is corp's: she is asked of corp alone, so the dead directory before it
    // does not stand in her way (corp binds uid=carol@customer.test, nobody: a plain refusal).
    h.write(|tx| {
        tx.execute(
            "INSERT INTO users (email, name, status, auth_source, created_at, updated_at)
             VALUES ('carol@customer.test', 'Carol', 'registered', 'ldap:corp', 0, 0)",
            &[],
        )
    })
    .await;
    assert_eq!(
        sign_in(&accounts, Realm::User, "carol@customer.test", "carol-directory-pw").await,
        SignIn::Denied
    );
}

/// A password set here for an account whose password the directory keeps would be one that
/// sign-in never checks: a temporary password, a change of one's own and an agent's reset link are
/// refused with a reason; a reset asked for on `/reset` sends nothing (the page says the same for
/// every address).
async fn a_directory_accounts_password_is_never_set_here(backend: Backend) {
    let Some(server) = LdapServer::start() else { return };
    let extra = format!("{USER_FORM}{}", bind_as_user(&server.url(), "[\"users\"]", ""));
    let Some((h, accounts)) = accounts_for(backend, &extra).await else { return };
    let signed = sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await;
    let SignIn::Granted { holder: Holder::User(user), stage } = signed else {
        panic!("carol signs in: {signed:?}")
    };

    let record = h.read(move |tx| mailgate::store::console::user_record(tx, user)).await.unwrap();
    assert_eq!(record.auth_source.as_deref(), Some("ldap:corp"), "the console's record names the directory");
    let temporary = accounts.set_temporary_password(user, "a brand new temporary one", "agent alice").await;
    let refused = format!("{:?}", temporary.expect_err("no temporary password for a directory account"));
    assert!(refused.contains("kept by the directory \\\"corp\\\""), "{refused}");

    let (_, session) = accounts.open_session(Holder::User(user), stage).await.unwrap();
    let change = accounts
        .change_own_password(&session, "carol-directory-pw", "", "another long password here", client())
        .await;
    assert!(format!("{:?}", change.expect_err("no change here")).contains("change it there"));

    let by_agent = accounts.send_reset_by(user, "agent alice").await;
    assert!(format!("{:?}", by_agent.expect_err("no reset link")).contains("kept by the directory"));
    accounts.request_reset("carol@customer.test").await.unwrap();
    let links = h.scalar_i64("SELECT COUNT(*) FROM account_tokens").await;
    assert_eq!(links, 0, "no reset link is made for a directory account");
    let again = sign_in(&accounts, Realm::User, "carol", "carol-directory-pw").await;
    assert!(matches!(again, SignIn::Granted { .. }), "the directory's password still works: {again:?}");
}
