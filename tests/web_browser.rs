//! The web pages in a real browser (headless Chromium from Debian): the one-click link taken from a
//! mail actually delivered over SMTP, the access form end to end, and an HTML mail full of XSS
//! payloads that must neither run nor fetch anything.

mod common;

use std::time::Duration;

use common::browser::{Browser, RequestLog, link_in, shows, site};
use common::ports::free_port;
use common::smtp::{SmtpSink, header, mail_to, worker};
use common::{Mail, created};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_in_a_delivered_mail_opens_the_thread() {
    let Some((h, base)) = site().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let mail = Mail::new("Ann <ann@acme.com>", "Printer on fire", "The printer in room 4 is on fire.");
    let (_, number) = created(&h.pipe(&mail.build()).await);
    worker(&h, sink.port).drain_once().await.unwrap();
    let delivered = sink.messages();
    let link = link_in(mail_to(&delivered, "ann@acme.com"), &base);

    let browser = Browser::start().await;
    browser.goto(&link).await;
    assert!(browser.text("h1").await.contains(&format!("#{number} Printer on fire")));
    assert!(browser.text(".entry-message .text").await.contains("The printer in room 4 is on fire."));
    assert!(browser.text(".meta").await.contains("Ann"), "the owner is named");

    // Ann answers on the page, with a photo of the damage.
    let photo = dir.path().join("damage.txt");
    std::fs::write(&photo, "a photo, in words").unwrap();
    let alerts = h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE template = 'new_message_alert'").await;
    browser.fill("textarea[name=text]", "It is smoking again.").await;
    browser.upload("input[name=files]", &photo).await;
    browser.click(".reply button[type=submit]").await;
    assert!(shows(&browser, "It is smoking again.").await, "back on the ticket, with the reply");
    assert!(browser.page_source().await.contains("damage.txt"));
    assert_eq!(h.strings("SELECT filename FROM attachments", "").await, ["damage.txt"]);
    assert_eq!(
        h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE template = 'new_message_alert'").await,
        alerts + 1,
        "the agent is alerted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_form_mails_a_link_that_opens_the_ticket() {
    let Some((h, base)) = site().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("Maildir"));
    let (_, number) =
        created(&h.pipe(&Mail::new("ann@acme.com", "VPN down", "No VPN since Monday.").build()).await);

    let browser = Browser::start().await;
    browser.goto(&format!("{base}/access")).await;
    browser.fill("input[name=number]", &number).await;
    browser.fill("input[name=email]", "ann@acme.com").await;
    browser.click("button[type=submit]").await;
    assert!(shows(&browser, "Check your mail").await);

    let mut access = None;
    for _ in 0..100 {
        worker(&h, sink.port).drain_once().await.unwrap();
        access = sink
            .messages()
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains("Your link")));
        if access.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let access = access.expect("the access link was mailed to Ann");
    assert!(header(&access, "To").unwrap().contains("ann@acme.com"));
    browser.goto(&link_in(&access, &base)).await;
    assert!(browser.text("h1").await.contains("VPN down"));
    assert!(browser.text(".entry-message .text").await.contains("No VPN since Monday."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_mail_with_xss_payloads_runs_nothing_and_fetches_nothing() {
    let Some((h, base)) = site().await else { return };
    let remote = RequestLog::start().await;
    let r = |path: &str| remote.url(path);
    let html = format!(
        "<html><head><meta http-equiv=\"refresh\" content=\"0;url={refresh}\"></head><body>\
         <p>Hello</p><script>window.__xss = 1</script>\
         <img src=\"x\" onerror=\"window.__xss = 2\">\
         <a id=\"js\" href=\"javascript:window.__xss = 3\">click</a>\
         <svg onload=\"window.__xss = 4\"></svg>\
         <div style=\"background:url(javascript:window.__xss=5);width:expression(window.__xss=6)\">css</div>\
         <form action=\"{form}\" method=\"post\"><input name=\"q\"><button id=\"go\">Send</button></form>\
         <img src=\"{image}\"><iframe src=\"{frame}\"></iframe>\
         <p>Regards, Ann</p></body></html>",
        refresh = r("/refresh"),
        form = r("/form"),
        image = r("/remote.png"),
        frame = r("/frame"),
    );
    let raw = format!(
        "From: Ann <ann@acme.com>\r\nTo: support@example.com\r\nSubject: Tricky\r\nMessage-ID: <xss@acme.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    );
    let (ticket, _) = created(&h.pipe(&raw).await);
    let ann = h
        .read(|tx| tx.query_one("SELECT id FROM users WHERE email = 'ann@acme.com'", &[], |r| r.i64(0)))
        .await;
    let claims = mailgate::auth::token::Claims {
        purpose: mailgate::auth::token::Purpose::View,
        ticket,
        participant: mailgate::auth::token::Participant::User(mailgate::core::ids::UserId(ann)),
        expires_at_ms: common::T0 + 3_600_000,
        epoch: 0,
    };
    let link = format!("{base}/t/{}", h.app.settings().keyring.link(&claims));

    let browser = Browser::start().await;
    browser.goto(&link).await;
    assert!(browser.text(".entry-message .text").await.contains("Hello"), "the mail is shown");
    for selector in ["script", "img[src]", "svg", "iframe", "form[action]", "a#js", "meta[http-equiv]"] {
        assert!(
            !browser.exists(&format!(".thread {selector}")).await,
            "{selector} reached the page as markup"
        );
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(browser.execute("return typeof window.__xss").await, "undefined", "a payload ran");
    assert!(browser.current_url().await.starts_with(&link), "no refresh took the page away");
    assert!(remote.requests().is_empty(), "the page reached the remote host: {:?}", remote.requests());

    // The original formatting, sanitized: still nothing runs and nothing is fetched...
    browser.click(".original a").await;
    assert!(shows(&browser, "Regards, Ann").await);
    for selector in
        ["script", "svg", "iframe", "form", "meta[http-equiv]", "[onerror]", "[onload]", "[style]"]
    {
        assert!(!browser.exists(&format!(".formatted {selector}")).await, "{selector} survived sanitizing");
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(browser.execute("return typeof window.__xss").await, "undefined", "a payload ran");
    assert!(remote.requests().is_empty(), "remote content loaded unasked: {:?}", remote.requests());
    // ...until the reader asks for remote images; then only the image comes.
    browser.click("a[href$='images=1']").await;
    assert!(remote.wait_for("GET /remote.png", Duration::from_secs(5)).await, "{:?}", remote.requests());
    assert!(remote.requests().iter().all(|r| r.starts_with("GET /remote.png")), "{:?}", remote.requests());
    assert_eq!(browser.execute("return typeof window.__xss").await, "undefined");
}
