//! Accounts in a real browser (headless Chromium), with mail through a real SMTP server: a customer
//! signs up, confirms from the delivered mail, signs in and sees their tickets; an agent signs in
//! with password and TOTP (the code computed from the enrollment secret), answers a ticket in the
//! console, and the customer receives the answer.

mod common;

use std::time::Duration;

use common::browser::{Browser, shows, site_with, url_in};
use common::ports::free_port;
use common::smtp::{SmtpSink, header, mail_to, worker};
use common::{Harness, Mail, created};
use mailgate::auth::totp;

/// Drains the outbox into `sink` until a mail to `to` that contains `needle` (in its subject or
/// body) arrives.
async fn delivered(h: &Harness, sink: &SmtpSink, to: &str, needle: &str) -> String {
    for _ in 0..100 {
        worker(h, sink.port).drain_once().await.unwrap();
        let found = sink.messages().into_iter().find(|m| {
            header(m, "To").is_some_and(|t| t.contains(to))
                && m.replace("=\r\n", "").replace("=\n", "").contains(needle)
        });
        if let Some(mail) = found {
            return mail;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail with {needle:?} to {to}: {:?}", sink.messages());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_signs_up_confirms_by_mail_and_sees_their_tickets() {
    let Some((h, base)) = site_with("").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer on fire", "Room 4.").build()).await);

    let browser = Browser::start().await;
    browser.goto(&format!("{base}/register")).await;
    browser.fill("input[name=name]", "Ann Example").await;
    browser.fill("input[name=email]", "ann@acme.com").await;
    browser.click("button[type=submit]").await;
    assert!(shows(&browser, "Check your mail").await, "{}", browser.page_source().await);

    let mail = delivered(&h, &sink, "ann@acme.com", "Confirm your").await;
    let link = url_in(&mail, &format!("{base}/register/"));
    browser.goto(&link).await;
    assert!(browser.text("main").await.contains("ann@acme.com"));
    // The password is chosen here, by whoever holds the mailbox.
    browser.fill("input[name=password]", "correct horse battery").await;
    browser.click("button[type=submit]").await;
    assert!(shows(&browser, "My tickets").await, "{}", browser.page_source().await);
    browser.click("button[type=submit]").await; // sign out
    assert!(shows(&browser, "How can we help?").await);

    browser.goto(&format!("{base}/login")).await;
    browser.fill("input[name=email]", "ann@acme.com").await;
    browser.fill("input[name=password]", "correct horse battery").await;
    browser.click("button[type=submit]").await;
    assert!(shows(&browser, "Printer on fire").await, "{}", browser.page_source().await);
    browser.click("table.list a").await;
    assert!(shows(&browser, "Room 4.").await, "the ticket opens from the list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_signs_in_with_totp_and_answers_from_the_console() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("totp.key");
    std::fs::write(&key, "fedcba9876543210fedcba9876543210fedcba9876543210").unwrap();
    let extra = format!("[auth]\ntotp_key_file = \"{}\"\nrequire_agent_2fa = true\n", key.display());
    let Some((h, base)) = site_with(&extra).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let (_, number) =
        created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "VPN down", "No VPN since Monday.").build()).await);
    let app = mailgate::app::open_with_clock(&h.config, std::sync::Arc::new(h.clock.clone())).await.unwrap();
    let accounts = mailgate::accounts::Accounts::new(&h.config, app);
    accounts.set_agent_password("alice", "blue velvet staircase").await.unwrap();

    let browser = Browser::start().await;
    let sign_in = async |browser: &Browser| {
        browser.goto(&format!("{base}/agent/login")).await;
        browser.fill("input[name=login]", "alice@example.com").await;
        browser.fill("input[name=password]", "blue velvet staircase").await;
        browser.click("button[type=submit]").await;
    };
    sign_in(&browser).await;
    // 2FA is required: enrollment first. The test reads the secret like a person would type it.
    assert!(shows(&browser, "Scan this code").await, "{}", browser.page_source().await);
    let secret = browser.text("code.secret").await;
    let secret = data_encoding::BASE32_NOPAD.decode(secret.trim().as_bytes()).unwrap();
    browser.fill("input[name=code]", &totp::code_at(&secret, common::T0)).await;
    browser.click("button[type=submit]").await;
    assert!(shows(&browser, "recovery codes").await, "{}", browser.page_source().await);

    // Sign in again: password, then a fresh code (the next step: the last one was used).
    h.clock.advance_ms(30_000);
    browser.client().delete_all_cookies().await.unwrap();
    sign_in(&browser).await;
    assert!(shows(&browser, "Enter your code").await, "{}", browser.page_source().await);
    browser.fill("input[name=code]", &totp::code_at(&secret, common::T0 + 30_000)).await;
    browser.click("button[type=submit]").await;
    assert!(shows(&browser, "VPN down").await, "the console's queue: {}", browser.page_source().await);

    browser.goto(&format!("{base}/agent/t/{number}")).await;
    assert!(shows(&browser, "No VPN since Monday.").await);
    browser.fill("textarea#reply-text", "Restarted the VPN gateway; please try again.").await;
    browser.click("form[action$='/reply'] button[type=submit]").await;
    assert!(shows(&browser, "Restarted the VPN gateway").await, "{}", browser.page_source().await);

    let answer = delivered(&h, &sink, "ann@acme.com", "Restarted the VPN gateway").await;
    let answer = mail_to(std::slice::from_ref(&answer), "ann@acme.com");
    assert!(answer.contains("Restarted the VPN gateway"), "{answer}");
    assert!(header(answer, "From").unwrap().contains("support@example.com"));
}
